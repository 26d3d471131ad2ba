//! Query strings and Harbor's pagination (`X-Total-Count`, relative `Link` headers).

use axum::http::{HeaderMap, HeaderValue};
use percent_encoding::percent_decode_str;

use crate::error::{ApiResult, HarborError};

/// Decoded query pairs in request order.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

fn decode(part: &str) -> String {
    percent_decode_str(&part.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(key), decode(value))
            })
            .collect();
        Self { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A go-openapi boolean; anything else fails binding (422).
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        self.get(key)
            .map(|v| match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(HarborError::validation(format!(
                    "{key} in query must be of type boolean: \"{v}\""
                ))),
            })
            .transpose()
    }

    fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        self.get(key)
            .map(|v| {
                v.parse().map_err(|_| {
                    HarborError::validation(format!(
                        "{key} in query must be of type int64: \"{v}\""
                    ))
                })
            })
            .transpose()
    }

    /// `page` (default 1) and `page_size` (default 10, at most 100).
    pub fn page(&self) -> ApiResult<Page> {
        let page = self.int("page")?.unwrap_or(1);
        let size = self.int("page_size")?.unwrap_or(10);
        if size > 100 {
            return Err(HarborError::validation(
                "page_size in query should be less than or equal to 100",
            ));
        }
        // guess: a negative size fails binding like an oversized one.
        if size < 0 {
            return Err(HarborError::validation(
                "page_size in query should be greater than or equal to 0",
            ));
        }
        // guess: Harbor's q.Build treats page < 1 as the first page.
        Ok(Page {
            number: page.max(1).unsigned_abs(),
            size: size.unsigned_abs(),
        })
    }

    /// Exact (`q=name=x`) or fuzzy (`q=name=~x`) name filter from Harbor's `q` syntax; other
    /// keys are ignored.
    pub fn q_name(&self) -> Option<NameFilter> {
        self.get("q")?.split(',').find_map(|clause| {
            let value = clause.strip_prefix("name=")?;
            Some(match value.strip_prefix('~') {
                Some(fuzzy) => NameFilter::Fuzzy(fuzzy.to_owned()),
                None => NameFilter::Exact(value.to_owned()),
            })
        })
    }

    /// Link URLs: these pairs with `page`/`page_size` replaced, keys sorted (Go's
    /// `url.Values.Encode`), values left unescaped (Harbor unescapes the encoded query).
    fn link_query(&self, page: u64, size: u64) -> String {
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != "page" && k != "page_size")
            .cloned()
            .collect();
        pairs.push(("page".to_owned(), page.to_string()));
        pairs.push(("page_size".to_owned(), size.to_string()));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameFilter {
    Exact(String),
    Fuzzy(String),
}

impl NameFilter {
    pub fn accepts(&self, name: &str) -> bool {
        match self {
            Self::Exact(exact) => name == exact,
            Self::Fuzzy(part) => name.contains(part.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    /// 0 = everything on one page (Harbor's q.Build without a limit).
    pub size: u64,
}

impl Page {
    /// The slice of `items` on this page, and Harbor's `X-Total-Count` / `Link` headers.
    pub fn apply<T>(
        self,
        items: Vec<T>,
        raw_path: &str,
        query: &QueryParams,
    ) -> (Vec<T>, HeaderMap) {
        let total = items.len() as u64;
        let mut headers = HeaderMap::new();
        headers.insert("x-total-count", HeaderValue::from(total));
        if self.size == 0 {
            return (items, headers);
        }
        let mut links = Vec::new();
        // Same conditions as `v2.7.0:src/server/v2.0/handler/base.go` Links.
        if self.number > 1 && (self.number - 1) * self.size < total {
            links.push((self.number - 1, "prev"));
        }
        if self.number * self.size < total {
            links.push((self.number + 1, "next"));
        }
        let link = links
            .iter()
            .map(|(page, rel)| {
                let query = query.link_query(*page, self.size);
                format!("<{raw_path}?{query}>; rel=\"{rel}\"")
            })
            .collect::<Vec<_>>()
            .join(" , ");
        if let Ok(value) = HeaderValue::from_str(&link)
            && !link.is_empty()
        {
            headers.insert("link", value);
        }
        let skip =
            usize::try_from((self.number - 1).saturating_mul(self.size)).unwrap_or(usize::MAX);
        let take = usize::try_from(self.size).unwrap_or(usize::MAX);
        (items.into_iter().skip(skip).take(take).collect(), headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> QueryParams {
        QueryParams::parse(Some(raw))
    }

    #[test]
    fn defaults_and_limits() {
        assert_eq!(
            q("").page().unwrap(),
            Page {
                number: 1,
                size: 10
            }
        );
        assert_eq!(q("page_size=101").page().unwrap_err().status.as_u16(), 422);
        assert_eq!(q("page=x").page().unwrap_err().status.as_u16(), 422);
        assert_eq!(q("page_size=1.5").page().unwrap_err().status.as_u16(), 422);
    }

    #[test]
    fn links_are_relative_sorted_and_joined() {
        let query = q("name=a%20b&page=2&page_size=10");
        let page = query.page().unwrap();
        let (items, headers) = page.apply((0..25).collect(), "/api/v2.0/projects", &query);
        assert_eq!(items, (10..20).collect::<Vec<_>>());
        assert_eq!(headers["x-total-count"], "25");
        assert_eq!(
            headers["link"],
            "</api/v2.0/projects?name=a b&page=1&page_size=10>; rel=\"prev\" , \
             </api/v2.0/projects?name=a b&page=3&page_size=10>; rel=\"next\""
        );
    }

    #[test]
    fn no_link_when_everything_fits() {
        let query = q("");
        let (items, headers) = query.page().unwrap().apply(vec![1, 2], "/x", &query);
        assert_eq!(items.len(), 2);
        assert!(headers.get("link").is_none());
    }

    #[test]
    fn q_name_filters() {
        assert_eq!(
            q("q=name%3Dabc").q_name(),
            Some(NameFilter::Exact("abc".into()))
        );
        assert_eq!(
            q("q=name=~ab").q_name(),
            Some(NameFilter::Fuzzy("ab".into()))
        );
        assert!(NameFilter::Fuzzy("b".into()).accepts("abc"));
        assert!(!NameFilter::Exact("b".into()).accepts("abc"));
    }
}
