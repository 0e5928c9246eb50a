//! outpost's small template language for sequence emails:
//!
//! - `{{first_name}}`, `{{ company }}`: a standard lead field or a custom field;
//! - `{{ first_name | default("there") }}`: a fallback when the lead has no value;
//! - `{Hi|Hello|Hey}`: spintax, one option picked per enrollment (stable across
//!   re-renders, so a retried step never changes wording).
//!
//! A hand-written parser keeps unknown-variable detection exact and guarantees
//! that a rendered text never contains a raw `{{`.

use std::collections::{BTreeSet, HashSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A parse failure, with the 0-based line inside the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub line: u32,
    pub message: String,
}

/// A value the lead lacks and the template gives no default for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the lead has no value for {{{{{name}}}}} and the template gives no default; fill the field or write {{{{{name} | default(\"...\")}}}}"
)]
pub struct MissingValue {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Var {
        name: String,
        default: Option<String>,
        line: u32,
    },
    Spin(Vec<Vec<Node>>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

/// A variable use, for validation at apply time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarUse {
    pub name: String,
    pub has_default: bool,
    /// 0-based line inside the template text.
    pub line: u32,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
    /// Positions of `{` already found to be plain text. Whether a brace opens
    /// spintax depends only on where it is, so remembering the answer keeps
    /// many unclosed braces from being re-tried exponentially often.
    plain_braces: HashSet<usize>,
    /// Braces currently open while trying spintax.
    depth: usize,
}

/// Deepest brace nesting tried as spintax; deeper is refused rather than
/// recursing without bound on hostile text.
const MAX_SPIN_DEPTH: usize = 32;

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parser = Parser {
            text,
            pos: 0,
            line: 0,
            plain_braces: HashSet::new(),
            depth: 0,
        };
        let nodes = parser.nodes(false)?;
        Ok(Template { nodes })
    }

    /// Every variable the template uses, in order.
    pub fn variables(&self) -> Vec<VarUse> {
        fn walk(nodes: &[Node], out: &mut Vec<VarUse>) {
            for node in nodes {
                match node {
                    Node::Text(_) => {}
                    Node::Var {
                        name,
                        default,
                        line,
                    } => out.push(VarUse {
                        name: name.clone(),
                        has_default: default.is_some(),
                        line: *line,
                    }),
                    Node::Spin(options) => options.iter().for_each(|o| walk(o, out)),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }

    /// Renders with `lookup` answering variables; spintax choices come from
    /// `seed` so the same enrollment always gets the same wording.
    pub fn render(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        seed: u64,
    ) -> Result<String, MissingValue> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = String::new();
        render_nodes(&self.nodes, lookup, &mut rng, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(
    nodes: &[Node],
    lookup: &dyn Fn(&str) -> Option<String>,
    rng: &mut ChaCha8Rng,
    out: &mut String,
) -> Result<(), MissingValue> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Var { name, default, .. } => match lookup(name).or_else(|| default.clone()) {
                Some(value) => out.push_str(&value),
                None => return Err(MissingValue { name: name.clone() }),
            },
            Node::Spin(options) => {
                let pick = rng.random_range(0..options.len());
                render_nodes(&options[pick], lookup, rng, out)?;
            }
        }
    }
    Ok(())
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn error(&self, message: impl Into<String>) -> TemplateError {
        TemplateError {
            line: self.line,
            message: message.into(),
        }
    }

    /// Nodes until the end, or (inside spintax) until an unnested `|` or `}`.
    fn nodes(&mut self, in_spin: bool) -> Result<Vec<Node>, TemplateError> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.rest().chars().next() {
            if self.rest().starts_with("{{") {
                flush(&mut text, &mut nodes);
                nodes.push(self.variable()?);
                continue;
            }
            if c == '{'
                && let Some(spin) = self.spin()?
            {
                flush(&mut text, &mut nodes);
                nodes.push(spin);
                continue;
            }
            if in_spin && (c == '|' || c == '}') {
                break;
            }
            if self.rest().starts_with("}}") {
                return Err(self.error("a stray `}}` without a matching `{{`"));
            }
            if c == '\n' {
                self.line += 1;
            }
            text.push(c);
            self.pos += c.len_utf8();
        }
        flush(&mut text, &mut nodes);
        Ok(nodes)
    }

    fn variable(&mut self) -> Result<Node, TemplateError> {
        let line = self.line;
        let Some(end) = self.rest().find("}}") else {
            return Err(self.error("`{{` is never closed with `}}`"));
        };
        let inner = &self.rest()[2..end];
        if inner.contains('\n') || inner.contains("{{") {
            return Err(self.error("`{{` is never closed with `}}` on the same line"));
        }
        let (name, default) = match inner.split_once('|') {
            None => (inner.trim(), None),
            Some((name, filter)) => (
                name.trim(),
                Some(parse_default(filter.trim()).ok_or_else(|| {
                    self.error(format!(
                        "unknown filter `{}` after {}: the only filter is default(\"text\")",
                        filter.trim(),
                        name.trim()
                    ))
                })?),
            ),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(self.error(format!(
                "`{{{{{inner}}}}}` is not a variable name (letters, digits and _ only)"
            )));
        }
        let node = Node::Var {
            name: name.to_string(),
            default,
            line,
        };
        self.pos += end + 2;
        Ok(node)
    }

    /// `{a|b}` spintax; None (nothing consumed) when the brace is plain text.
    fn spin(&mut self) -> Result<Option<Node>, TemplateError> {
        let start_pos = self.pos;
        if self.plain_braces.contains(&start_pos) {
            return Ok(None);
        }
        if self.depth >= MAX_SPIN_DEPTH {
            return Err(self.error(format!(
                "braces nested more than {MAX_SPIN_DEPTH} deep; spintax is {{a|b}} and may nest up to {MAX_SPIN_DEPTH} levels"
            )));
        }
        self.depth += 1;
        let spin = self.spin_options();
        self.depth -= 1;
        let spin = spin?;
        if spin.is_none() {
            self.plain_braces.insert(start_pos);
        }
        Ok(spin)
    }

    fn spin_options(&mut self) -> Result<Option<Node>, TemplateError> {
        let (start_pos, start_line) = (self.pos, self.line);
        self.pos += 1;
        let mut options = Vec::new();
        loop {
            let option = self.nodes(true)?;
            options.push(option);
            match self.rest().chars().next() {
                Some('|') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    self.pos = start_pos;
                    self.line = start_line;
                    return Ok(None);
                }
            }
        }
        if options.len() < 2 {
            // `{word}` without a `|` is ordinary text (CSS, JSON, prose).
            self.pos = start_pos;
            self.line = start_line;
            return Ok(None);
        }
        Ok(Some(Node::Spin(options)))
    }
}

fn flush(text: &mut String, nodes: &mut Vec<Node>) {
    if !text.is_empty() {
        nodes.push(Node::Text(std::mem::take(text)));
    }
}

/// `default("text")` or `default('text')`.
fn parse_default(filter: &str) -> Option<String> {
    let args = filter.strip_prefix("default")?.trim();
    let inner = args.strip_prefix('(')?.strip_suffix(')')?.trim();
    let quoted = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))?;
    Some(quoted.to_string())
}

/// The variables every lead answers, plus what the scheduler itself provides.
pub fn known_builtin(name: &str) -> bool {
    crate::model::Lead::STANDARD_FIELDS.contains(&name) || BUILTINS.contains(&name)
}

/// Filled in by the scheduler, not the lead.
pub const BUILTINS: &[&str] = &["sender_email", "unsubscribe_url"];

/// Names used that are neither standard nor in `custom`.
pub fn unknown_variables(template: &Template, custom: &BTreeSet<String>) -> Vec<VarUse> {
    template
        .variables()
        .into_iter()
        .filter(|v| !known_builtin(&v.name) && !custom.contains(&v.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "first_name" => Some("Dana".into()),
            "role" => Some("CFO".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_defaults_and_custom_fields() {
        let t =
            Template::parse("Hi {{first_name}}, {{ company | default(\"your team\") }} ({{role}})")
                .unwrap();
        assert_eq!(t.render(&lookup, 1).unwrap(), "Hi Dana, your team (CFO)");
        let t = Template::parse("{{ last_name | default('friend') }}").unwrap();
        assert_eq!(t.render(&lookup, 1).unwrap(), "friend");
    }

    #[test]
    fn missing_value_without_default_is_an_error() {
        let t = Template::parse("Hi {{company}}").unwrap();
        let err = t.render(&lookup, 1).unwrap_err();
        assert_eq!(err.name, "company");
        assert!(err.to_string().contains("{{company}}"), "{err}");
    }

    #[test]
    fn spintax_is_stable_per_seed_and_covers_options() {
        let t = Template::parse("{Hi|Hello|Hey} {{first_name}}").unwrap();
        let a = t.render(&lookup, 42).unwrap();
        assert_eq!(a, t.render(&lookup, 42).unwrap());
        let seen: BTreeSet<String> = (0..50).map(|s| t.render(&lookup, s).unwrap()).collect();
        assert_eq!(seen.len(), 3, "{seen:?}");
    }

    #[test]
    fn plain_braces_stay_text() {
        let t = Template::parse("p {color: red} {alone}").unwrap();
        assert_eq!(t.render(&lookup, 0).unwrap(), "p {color: red} {alone}");
    }

    #[test]
    fn unclosed_and_bad_names_are_refused_with_their_line() {
        let err = Template::parse("line one\nHi {{first_name").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(Template::parse("{{ first name }}").is_err());
        assert!(Template::parse("{{ x | upper }}").is_err());
        assert!(Template::parse("oops }} here").is_err());
    }

    #[test]
    fn many_unclosed_braces_parse_in_linear_time() {
        // Unremembered, each unclosed `{` re-tried every later one,
        // doubling the work per brace.
        let text = "{a".repeat(30);
        let t = Template::parse(&text).unwrap();
        assert_eq!(t.render(&lookup, 0).unwrap(), text);
        let text = "{a|".repeat(31);
        assert_eq!(
            Template::parse(&text).unwrap().render(&lookup, 0).unwrap(),
            text
        );
    }

    #[test]
    fn deep_brace_nesting_is_refused_not_recursed() {
        let nested = format!("{}x{}", "{a|".repeat(32), "}".repeat(32));
        assert!(Template::parse(&nested).is_ok());
        let deeper = format!("{}x{}", "{a|".repeat(5000), "}".repeat(5000));
        let err = Template::parse(&deeper).unwrap_err();
        assert!(err.message.contains("nested more than 32"), "{err}");
    }

    #[test]
    fn unknown_variables_are_listed_with_lines() {
        let t = Template::parse("Hi {{first_name}}\n{{ favourite_colour }} {{role}}").unwrap();
        let custom: BTreeSet<String> = ["role".to_string()].into();
        let unknown = unknown_variables(&t, &custom);
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].name, "favourite_colour");
        assert_eq!(unknown[0].line, 1);
    }
}
