//! The filter grammar of RFC 7644 §3.4.2.2, parsed with limits on length, nesting and terms
//! (a hostile filter is a 400 `invalidFilter`, never a panic or a runaway), and evaluated
//! against a resource's JSON form.
//!
//! Precedence: `not` binds tighter than `and`, which binds tighter than `or`; operators and
//! keywords are case-insensitive; string comparisons follow the attribute's case rule.

use std::cmp::Ordering;

use serde_json::Value;

use crate::attr::{self, AttrPath};
use crate::ScimError;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: some element of `path` matches the inner filter, whose
    /// paths are relative to the element.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Parses a filter.
    ///
    /// # Errors
    /// `invalidFilter` for bad syntax, an operator that does not fit its value, or a filter
    /// past the limits ([`crate::MAX_FILTER_LEN`], [`crate::MAX_FILTER_DEPTH`],
    /// [`crate::MAX_FILTER_TERMS`]).
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        if text.len() > crate::MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!(
                "The filter is longer than {} characters.",
                crate::MAX_FILTER_LEN
            )));
        }
        let tokens = lex(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            depth: 0,
            terms: 0,
        };
        let f = p.or_expr()?;
        if p.pos != p.tokens.len() {
            return Err(ScimError::invalid_filter(format!(
                "Unexpected {} in the filter.",
                p.tokens[p.pos].describe()
            )));
        }
        Ok(f)
    }

    /// When the filter is exactly `<attr> eq "<string>"` on a top-level attribute, that
    /// attribute (as written) and the string: the shape clients use to look one record up.
    #[must_use]
    pub fn as_equality(&self) -> Option<(&AttrPath, &str)> {
        match self {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: Value::String(s),
            } => Some((path, s)),
            _ => None,
        }
    }

    /// Whether the resource matches. `core_schema` is the resource's core schema URI (paths
    /// prefixed with it address the resource itself).
    #[must_use]
    pub fn matches(&self, resource: &Value, core_schema: &str) -> bool {
        self.eval(resource, core_schema, None)
    }

    fn eval(&self, resource: &Value, core: &str, parent: Option<&AttrPath>) -> bool {
        match self {
            Filter::And(a, b) => a.eval(resource, core, parent) && b.eval(resource, core, parent),
            Filter::Or(a, b) => a.eval(resource, core, parent) || b.eval(resource, core, parent),
            Filter::Not(f) => !f.eval(resource, core, parent),
            Filter::Present(path) => attr::values(resource, path, core)
                .iter()
                .any(|v| is_present(v)),
            Filter::Compare { path, op, value } => {
                let exact = match parent {
                    Some(p) => p.with_sub(Some(path.name.clone())).case_exact(),
                    None => path.case_exact(),
                };
                let found = attr::values(resource, path, core);
                match (op, value) {
                    (CompareOp::Eq, Value::Null) => found.is_empty(),
                    (CompareOp::Ne, Value::Null) => !found.is_empty(),
                    (CompareOp::Ne, _) => !found
                        .iter()
                        .any(|v| compare(v, CompareOp::Eq, value, exact)),
                    _ => found.iter().any(|v| compare(v, *op, value, exact)),
                }
            }
            Filter::ValuePath { path, filter } => {
                let Some(container) = path.container(resource, core) else {
                    return false;
                };
                match attr::get_ci(container, &path.name) {
                    Some(Value::Array(items)) => {
                        items.iter().any(|item| filter.eval(item, core, Some(path)))
                    }
                    Some(item @ Value::Object(_)) => filter.eval(item, core, Some(path)),
                    _ => false,
                }
            }
        }
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Compares one attribute value with a filter value.
fn compare(actual: &Value, op: CompareOp, expected: &Value, exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = if exact {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                _ => ordered(a.cmp(&e), op),
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else {
                return false;
            };
            match a.partial_cmp(&e) {
                Some(o) if op == CompareOp::Eq => o == Ordering::Equal,
                Some(o) if op == CompareOp::Ne => o != Ordering::Equal,
                Some(o) if op.is_ordering() => ordered(o, op),
                _ => false,
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
        // Booleans some clients keep as strings ("True").
        (Value::Bool(a), Value::String(e)) => match e.to_ascii_lowercase().as_str() {
            "true" => compare(&Value::Bool(*a), op, &Value::Bool(true), exact),
            "false" => compare(&Value::Bool(*a), op, &Value::Bool(false), exact),
            _ => false,
        },
        _ => false,
    }
}

fn ordered(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::OpenBracket => "`[`".into(),
            Token::CloseBracket => "`]`".into(),
            Token::Word(w) => format!("`{w}`"),
            Token::Str(_) => "a string".into(),
        }
    }
}

fn lex(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b'[' => {
                out.push(Token::OpenBracket);
                i += 1;
            }
            b']' => {
                out.push(Token::CloseBracket);
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(ScimError::invalid_filter(
                                "A string in the filter is not closed.",
                            ))
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let s: String = serde_json::from_str(&text[start..i]).map_err(|_| {
                    ScimError::invalid_filter("A string in the filter is not a valid JSON string.")
                })?;
                out.push(Token::Str(s));
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'[' | b']' | b'"'
                    )
                {
                    i += 1;
                }
                out.push(Token::Word(text[start..i].to_owned()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    terms: usize,
}

impl Parser {
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Token) -> Result<(), ScimError> {
        match self.next() {
            Some(t) if t == *want => Ok(()),
            Some(t) => Err(ScimError::invalid_filter(format!(
                "Expected {} but found {} in the filter.",
                want.describe(),
                t.describe()
            ))),
            None => Err(ScimError::invalid_filter(format!(
                "The filter ends where {} was expected.",
                want.describe()
            ))),
        }
    }

    fn nest(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > crate::MAX_FILTER_DEPTH {
            return Err(ScimError::invalid_filter(format!(
                "The filter nests deeper than {} levels.",
                crate::MAX_FILTER_DEPTH
            )));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and_expr()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            self.nest()?;
            self.expect(&Token::Open)?;
            let inner = self.or_expr()?;
            self.expect(&Token::Close)?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            self.nest()?;
            let inner = self.or_expr()?;
            self.expect(&Token::Close)?;
            self.depth -= 1;
            return Ok(inner);
        }
        self.attr_expr()
    }

    fn attr_expr(&mut self) -> Result<Filter, ScimError> {
        let path_text = match self.next() {
            Some(Token::Word(w)) => w,
            Some(t) => {
                return Err(ScimError::invalid_filter(format!(
                    "Expected an attribute but found {} in the filter.",
                    t.describe()
                )))
            }
            None => {
                return Err(ScimError::invalid_filter(
                    "The filter is empty or ends early.",
                ))
            }
        };
        let path = AttrPath::parse(&path_text).map_err(ScimError::invalid_filter)?;
        self.terms += 1;
        if self.terms > crate::MAX_FILTER_TERMS {
            return Err(ScimError::invalid_filter(format!(
                "The filter has more than {} terms.",
                crate::MAX_FILTER_TERMS
            )));
        }
        if self.tokens.get(self.pos) == Some(&Token::OpenBracket) {
            if path.sub.is_some() {
                return Err(ScimError::invalid_filter(
                    "A value filter applies to an attribute, not a sub-attribute.",
                ));
            }
            self.pos += 1;
            self.nest()?;
            let inner = self.or_expr()?;
            self.expect(&Token::CloseBracket)?;
            self.depth -= 1;
            if contains_value_path(&inner) {
                return Err(ScimError::invalid_filter("Value filters cannot be nested."));
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        let op_word = match self.next() {
            Some(Token::Word(w)) => w,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "Expected an operator after `{path_text}`."
                )))
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::parse(&op_word).ok_or_else(|| {
            ScimError::invalid_filter(format!("`{op_word}` is not a filter operator."))
        })?;
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => literal(&w)?,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "Expected a value after `{path_text} {op_word}`."
                )))
            }
        };
        match &value {
            Value::Bool(_) | Value::Null if op.is_ordering() || op.is_substring() => Err(
                ScimError::invalid_filter(format!("`{op_word}` cannot compare with {value}.")),
            ),
            Value::Number(_) if op.is_substring() => Err(ScimError::invalid_filter(format!(
                "`{op_word}` compares strings only."
            ))),
            _ => Ok(Filter::Compare { path, op, value }),
        }
    }
}

fn contains_value_path(f: &Filter) -> bool {
    match f {
        Filter::ValuePath { .. } => true,
        Filter::And(a, b) | Filter::Or(a, b) => contains_value_path(a) || contains_value_path(b),
        Filter::Not(f) => contains_value_path(f),
        _ => false,
    }
}

fn literal(word: &str) -> Result<Value, ScimError> {
    match word.to_ascii_lowercase().as_str() {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "null" => return Ok(Value::Null),
        _ => {}
    }
    if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        if let Ok(n @ Value::Number(_)) = serde_json::from_str::<Value>(word) {
            return Ok(n);
        }
    }
    Err(ScimError::invalid_filter(format!(
        "`{word}` is not a value: quote strings, or use a number, true, false or null."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [crate::USER_SCHEMA, crate::ENTERPRISE_USER_SCHEMA],
            "id": "2819c223", "userName": "Bjensen", "externalId": "X-1",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "active": true, "title": null,
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "meta": {"lastModified": "2026-05-13T04:42:34Z", "resourceType": "User"},
            crate::ENTERPRISE_USER_SCHEMA: {"employeeNumber": "701984", "department": "Math"}
        })
    }

    fn check(filter: &str) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(&user(), crate::USER_SCHEMA)
    }

    #[test]
    fn rfc_examples() {
        assert!(check(r#"userName eq "bjensen""#));
        assert!(check(r#"name.familyName co "ens""#));
        assert!(check(r#"userName sw "B""#));
        assert!(check(r#"userName Ew "sen""#));
        assert!(!check("title pr"));
        assert!(check("externalId pr"));
        assert!(check(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
        assert!(!check(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#));
        assert!(check(
            r#"emails[type eq "work" and value co "@example.com"]"#
        ));
        assert!(check(
            r#"userType eq "Employee" or (emails co "example.com" and not (active eq false))"#
        ));
        assert!(check(r#"emails co "example.com""#));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName EQ "BJENSEN""#
        ));
        assert!(check("active eq true AND not(active eq false)"));
        assert!(check(r#"title eq null"#));
        assert!(check(r#"active eq "True""#));
    }

    #[test]
    fn case_exact_attributes() {
        assert!(check(r#"externalId eq "X-1""#));
        assert!(!check(r#"externalId eq "x-1""#));
        assert!(check(r#"id eq "2819c223""#));
    }

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        // false and false or true == true; false and (false or true) == false
        assert!(check(
            r#"userName eq "x" and userName eq "y" or active eq true"#
        ));
        assert!(!check(
            r#"userName eq "x" and (userName eq "y" or active eq true)"#
        ));
    }

    #[test]
    fn rejects_bad_filters() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName eq "x"#,
            r#"userName xx "x""#,
            "userName eq bare",
            "active gt true",
            "userName co 3",
            r#"(userName eq "x""#,
            r#"emails[type eq "work""#,
            r#"emails[type[value eq "a"]]"#,
            r#"userName eq "x" junk"#,
            "1bad eq 1",
        ] {
            let e = Filter::parse(bad).expect_err(bad);
            assert_eq!(e.scim_type, Some(crate::ScimType::InvalidFilter), "{bad}");
        }
    }

    #[test]
    fn limits_hostile_filters() {
        let deep = format!("{}userName pr{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Filter::parse(&deep).is_err());
        let nots = format!("{}userName pr{}", "not (".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&nots).is_err());
        let wide = vec!["userName pr"; 200].join(" or ");
        assert!(Filter::parse(&wide).is_err());
        assert!(Filter::parse(&"a".repeat(5000)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[a-zA-Z()\\[\\]\" .:0-9\\\\-]{0,80}") {
            if let Ok(f) = Filter::parse(&s) {
                let _ = f.matches(&user(), crate::USER_SCHEMA);
            }
        }
    }
}
