//! Query strings with repeated keys (`labelIds=A&labelIds=B`), which serde's
//! urlencoded extractor cannot express.

use super::error::ApiError;

#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            query
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`; the `name[]` spelling is accepted too.
    pub fn all(&self, name: &str) -> Vec<String> {
        let bracketed = format!("{name}[]");
        self.0
            .iter()
            .filter(|(k, v)| (k == name || *k == bracketed) && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `maxResults`: default when absent or 0, capped at `max`.
    pub fn max_results(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("maxResults") {
            None => Ok(default),
            Some(text) => match text.parse::<u32>() {
                Ok(0) => Ok(default),
                Ok(n) => Ok((n as usize).min(max)),
                Err(_) => Err(ApiError::invalid_value(format!(
                    "Invalid value at 'max_results' (TYPE_UINT32), \"{text}\""
                ))),
            },
        }
    }

    /// Page tokens are opaque numeric offsets.
    pub fn page_offset(&self) -> Result<usize, ApiError> {
        match self.get("pageToken") {
            None => Ok(0),
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| ApiError::invalid_argument("Invalid pageToken")),
        }
    }
}

pub fn page_token(offset: usize) -> String {
    format!("{offset:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_kept() {
        let params = Params::parse(Some(
            "labelIds=INBOX&labelIds=UNREAD&labelIds%5B%5D=STARRED&q=in%3Asent",
        ));
        assert_eq!(params.all("labelIds"), vec!["INBOX", "UNREAD", "STARRED"]);
        assert_eq!(params.get("q"), Some("in:sent"));
        assert_eq!(params.max_results(100, 500), Ok(100));
        let params = Params::parse(Some("maxResults=9999&pageToken=00000000000000000007"));
        assert_eq!(params.max_results(100, 500), Ok(500));
        assert_eq!(params.page_offset(), Ok(7));
        assert!(
            Params::parse(Some("maxResults=x"))
                .max_results(100, 500)
                .is_err()
        );
    }
}
