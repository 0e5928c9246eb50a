//! outpost's template language for sequence emails, reply drafts and webhook
//! payloads:
//!
//! - `{{first_name}}`, `{{ company }}`: a standard lead field or a custom field;
//! - `{{ first_name | default("there") }}`: a fallback when the lead has no value;
//! - `{{ company | title }}`: a few text filters (`lower`, `upper`, `title`,
//!   `capitalize`, `trim`);
//! - `{Hi|Hello|Hey}`: spintax, one option picked per enrollment (stable across
//!   re-renders, so a retried step never changes wording).
//!
//! Every `{{ … }}` is a minijinja expression, compiled once when the template
//! is parsed and rendered with strict undefined values: a variable the lead
//! cannot answer is an error, never empty text. Spintax is a small layer on
//! top: it splits the text into options before minijinja sees anything, and
//! the text around the expressions is copied as written (a `{%` or `{#` in a
//! JSON payload or an email stays text), so a rendered text never contains a
//! raw `{{` from the template.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A parse failure, with the 0-based line inside the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub line: u32,
    pub message: String,
}

/// Why a parsed template could not be rendered for one lead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A value the lead lacks and the template gives no default for.
    #[error(
        "the lead has no value for {{{{{name}}}}} and the template gives no default; fill the field or write {{{{{name} | default(\"...\")}}}}"
    )]
    MissingValue { name: String },
    /// An expression failed on the lead's values (line is 0-based).
    #[error("line {}: `{{{{{expression}}}}}` could not be rendered: {message}", line + 1)]
    Expression {
        line: u32,
        expression: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    /// Index into `Template::expressions`.
    Expr(usize),
    Spin(Vec<Vec<Node>>),
}

/// One `{{ … }}`, compiled into the template's environment under its index.
#[derive(Debug, Clone, PartialEq)]
struct Expression {
    /// What stood between the braces.
    source: String,
    /// Its name in the template's environment.
    template_name: String,
    line: u32,
    /// The lead variables it reads, sorted.
    variables: Vec<String>,
    /// The subset it still renders without (a `default(...)` covers them).
    optional: Vec<String>,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    expressions: Vec<Expression>,
    /// Every variable any expression reads, sorted, without repeats.
    names: Vec<String>,
    /// Holds each expression compiled, named by its index.
    env: Arc<Environment<'static>>,
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes && self.expressions == other.expressions
    }
}

/// A variable use, for validation at apply time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarUse {
    pub name: String,
    pub has_default: bool,
    /// 0-based line inside the template text.
    pub line: u32,
}

/// The value every variable gets when an expression is tried at parse time,
/// so filters and syntax errors surface then and not at send time.
const TRIAL_VALUE: &str = "Sample";

/// The environment expressions are compiled in: strict undefined values, no
/// escaping (emails and JSON payloads are escaped by their own writers), and
/// only the text filters documented above; no globals or functions, so an
/// expression can read lead fields and nothing else.
fn environment() -> Environment<'static> {
    let mut env = Environment::empty();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("default", minijinja::filters::default);
    env.add_filter("lower", minijinja::filters::lower);
    env.add_filter("upper", minijinja::filters::upper);
    env.add_filter("title", minijinja::filters::title);
    env.add_filter("capitalize", minijinja::filters::capitalize);
    env.add_filter("trim", minijinja::filters::trim);
    env
}

/// A minijinja error as one line, without minijinja's internal template name.
fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

fn render_expression(
    env: &Environment<'static>,
    expression: &Expression,
    context: &minijinja::Value,
) -> Result<String, minijinja::Error> {
    env.get_template(&expression.template_name)?.render(context)
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
    /// `{{ … }}` found so far: what stood between the braces, and its line.
    expressions: Vec<(String, u32)>,
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
            expressions: Vec::new(),
        };
        let nodes = parser.nodes(false)?;
        let mut env = environment();
        let mut expressions = Vec::with_capacity(parser.expressions.len());
        for (index, (source, line)) in parser.expressions.into_iter().enumerate() {
            expressions.push(compile(&mut env, index, source, line)?);
        }
        let mut names: Vec<String> = expressions
            .iter()
            .flat_map(|e| e.variables.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        Ok(Template {
            nodes,
            expressions,
            names,
            env: Arc::new(env),
        })
    }

    /// Every variable the template uses, in order.
    pub fn variables(&self) -> Vec<VarUse> {
        fn walk(nodes: &[Node], expressions: &[Expression], out: &mut Vec<VarUse>) {
            for node in nodes {
                match node {
                    Node::Text(_) => {}
                    Node::Expr(index) => {
                        let expression = &expressions[*index];
                        out.extend(expression.variables.iter().map(|name| VarUse {
                            name: name.clone(),
                            has_default: expression.optional.contains(name),
                            line: expression.line,
                        }));
                    }
                    Node::Spin(options) => options.iter().for_each(|o| walk(o, expressions, out)),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &self.expressions, &mut out);
        out
    }

    /// Renders with `lookup` answering variables; spintax choices come from
    /// `seed` so the same enrollment always gets the same wording.
    pub fn render(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        seed: u64,
    ) -> Result<String, RenderError> {
        // Only the names the template reads are asked for; a name the lead
        // cannot answer stays out of the context, so it is undefined.
        let values: BTreeMap<&str, String> = self
            .names
            .iter()
            .filter_map(|name| lookup(name).map(|value| (name.as_str(), value)))
            .collect();
        let renderer = Renderer {
            template: self,
            context: minijinja::Value::from(values),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = String::new();
        renderer.nodes(&self.nodes, &mut rng, &mut out)?;
        Ok(out)
    }
}

/// Compiles one expression and tries it, so a bad filter or a type error is
/// a parse error with its line rather than a failed send.
fn compile(
    env: &mut Environment<'static>,
    index: usize,
    source: String,
    line: u32,
) -> Result<Expression, TemplateError> {
    let refuse = |error: &minijinja::Error| TemplateError {
        line,
        message: format!(
            "`{{{{{source}}}}}` is not a usable expression: {}",
            describe(error)
        ),
    };
    let template_name = index.to_string();
    env.add_template_owned(template_name.clone(), format!("{{{{{source}}}}}"))
        .map_err(|e| refuse(&e))?;
    let compiled = env.get_template(&template_name).map_err(|e| refuse(&e))?;
    let mut variables: Vec<String> = compiled.undeclared_variables(false).into_iter().collect();
    variables.sort();
    let trial = |without: Option<&str>| {
        let values: BTreeMap<&str, &str> = variables
            .iter()
            .map(String::as_str)
            .filter(|name| Some(*name) != without)
            .map(|name| (name, TRIAL_VALUE))
            .collect();
        compiled.render(minijinja::Value::from(values))
    };
    trial(None).map_err(|e| refuse(&e))?;
    let optional = variables
        .iter()
        .filter(|name| trial(Some(name)).is_ok())
        .cloned()
        .collect();
    Ok(Expression {
        source,
        template_name,
        line,
        variables,
        optional,
    })
}

/// One render: the template, and the lead's values as minijinja's context.
struct Renderer<'t> {
    template: &'t Template,
    context: minijinja::Value,
}

impl Renderer<'_> {
    fn nodes(
        &self,
        nodes: &[Node],
        rng: &mut ChaCha8Rng,
        out: &mut String,
    ) -> Result<(), RenderError> {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Expr(index) => out.push_str(&self.expression(*index)?),
                Node::Spin(options) => {
                    let pick = rng.random_range(0..options.len());
                    self.nodes(&options[pick], rng, out)?;
                }
            }
        }
        Ok(())
    }

    fn expression(&self, index: usize) -> Result<String, RenderError> {
        let expression = &self.template.expressions[index];
        render_expression(&self.template.env, expression, &self.context).map_err(|error| {
            let missing = expression.variables.iter().find(|name| {
                self.context
                    .get_attr(name)
                    .map_or(true, |value| value.is_undefined())
            });
            match missing {
                Some(name) if error.kind() == ErrorKind::UndefinedError => {
                    RenderError::MissingValue { name: name.clone() }
                }
                _ => RenderError::Expression {
                    line: expression.line,
                    expression: expression.source.clone(),
                    message: describe(&error),
                },
            }
        })
    }
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
        self.expressions.push((inner.to_string(), line));
        self.pos += end + 2;
        Ok(Node::Expr(self.expressions.len() - 1))
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
        assert_eq!(
            err,
            RenderError::MissingValue {
                name: "company".into()
            }
        );
        assert!(err.to_string().contains("{{company}}"), "{err}");
        // Strict undefined: a filter never turns a missing value into "".
        let t = Template::parse("Hi {{ company | upper }}!").unwrap();
        assert!(matches!(
            t.render(&lookup, 1),
            Err(RenderError::MissingValue { name }) if name == "company"
        ));
    }

    #[test]
    fn expressions_are_minijinja_with_text_filters() {
        let t =
            Template::parse("{{ first_name | upper }} at {{ company | default('acme') | title }}")
                .unwrap();
        assert_eq!(t.render(&lookup, 0).unwrap(), "DANA at Acme");
        let uses = t.variables();
        let company = uses.iter().find(|v| v.name == "company").unwrap();
        assert!(company.has_default);
        let first = uses.iter().find(|v| v.name == "first_name").unwrap();
        assert!(!first.has_default);
    }

    #[test]
    fn text_around_expressions_is_never_read_as_jinja() {
        let text = "{% if x %} {# note #} {\"k\": \"{{first_name}}\"} %}";
        let t = Template::parse(text).unwrap();
        assert_eq!(
            t.render(&lookup, 0).unwrap(),
            "{% if x %} {# note #} {\"k\": \"Dana\"} %}"
        );
    }

    const RECORDED_PICKS: [&str; 6] = [
        "Hello Dana, d",
        "Hello Dana, b",
        "Hi Dana, d",
        "Hi Dana, b",
        "Hey Dana, d",
        "Hi Dana, a",
    ];

    #[test]
    fn spintax_picks_are_the_same_as_before_the_minijinja_move() {
        // Recorded with the hand-written renderer this one replaced: the
        // same seed must keep giving a lead the same wording.
        let t = Template::parse("{Hi|Hello|Hey} {{first_name}}, {a|b|{c|d}}").unwrap();
        let picks: Vec<String> = (0..6)
            .map(|seed| t.render(&lookup, seed).unwrap())
            .collect();
        assert_eq!(picks, RECORDED_PICKS);
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
        assert!(Template::parse("{{ x | shout }}").is_err());
        assert!(Template::parse("{{ range(10) }}").is_err());
        let err = Template::parse("a\n\nb {{ x + }}").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("{{ x + }}"), "{err}");
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
