//! Building list queries (filters, keyset pagination) as SQL text plus arguments, once for
//! both backends. Both accept `$n` placeholders.

use cc_domain::page::Cursor;
use cc_domain::SortDir;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A bound value of one of the few types list filters use.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Uuid(Uuid),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// SQL text being assembled, with its arguments.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends text.
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Adds an argument and returns its placeholder.
    pub fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    /// Appends `AND <column> = <arg>`.
    pub fn eq(&mut self, column: &str, a: Arg) -> &mut Self {
        let p = self.arg(a);
        self.text.push_str(&format!(" AND {column} = {p}"));
        self
    }

    /// Appends a case-insensitive substring match over several columns.
    pub fn text_search(&mut self, columns: &[&str], q: &str) -> &mut Self {
        self.text_search_in(columns, q, None)
    }

    /// Like [`Sql::text_search`], first narrowed to the rows a full-text index finds. The
    /// substring match still decides, so the index only changes how rows are found.
    pub fn text_search_in(
        &mut self,
        columns: &[&str],
        q: &str,
        index: Option<&TextIndex>,
    ) -> &mut Self {
        if let Some(ix) = index {
            let p = self.arg(Arg::Text(ix.phrase.clone()));
            self.text.push_str(&format!(
                " AND {} IN (SELECT rowid FROM {} WHERE {} MATCH {p})",
                ix.rowid, ix.table, ix.table
            ));
        }
        let p = self.arg(Arg::Text(like_pattern(q)));
        let ors: Vec<String> = columns
            .iter()
            .map(|c| format!("lower({c}) LIKE {p} ESCAPE '\\'"))
            .collect();
        self.text.push_str(&format!(" AND ({})", ors.join(" OR ")));
        self
    }

    /// Appends the keyset condition and ORDER BY/LIMIT for a sort on `(column, id)`, or on
    /// `id` alone when `column` is `None`. Fetches one extra row to know whether a next page exists.
    pub fn keyset(
        &mut self,
        id_col: &str,
        column: Option<&str>,
        dir: SortDir,
        cursor: Option<&Cursor>,
        limit: u32,
    ) {
        self.keyset_on(id_col, column.map(|c| (c, false)), dir, cursor, limit);
    }

    /// Like [`Sql::keyset`]; a sort column flagged unique is ordered on alone, so its own
    /// index serves the ORDER BY without a sort step.
    pub fn keyset_on(
        &mut self,
        id_col: &str,
        column: Option<(&str, bool)>,
        dir: SortDir,
        cursor: Option<&Cursor>,
        limit: u32,
    ) {
        let (cmp, order) = match dir {
            SortDir::Asc => (">", "ASC"),
            SortDir::Desc => ("<", "DESC"),
        };
        if let Some(c) = cursor {
            match column {
                Some((col, true)) => {
                    let v = self.arg(Arg::Text(c.v.clone()));
                    self.text.push_str(&format!(" AND {col} {cmp} {v}"));
                }
                Some((col, false)) => {
                    let v = self.arg(Arg::Text(c.v.clone()));
                    let id = self.arg(Arg::Uuid(c.id));
                    self.text
                        .push_str(&format!(" AND ({col}, {id_col}) {cmp} ({v}, {id})"));
                }
                None => {
                    let id = self.arg(Arg::Uuid(c.id));
                    self.text.push_str(&format!(" AND {id_col} {cmp} {id}"));
                }
            }
        }
        match column {
            Some((col, true)) => self.text.push_str(&format!(" ORDER BY {col} {order}")),
            Some((col, false)) => self
                .text
                .push_str(&format!(" ORDER BY {col} {order}, {id_col} {order}")),
            None => self.text.push_str(&format!(" ORDER BY {id_col} {order}")),
        }
        let l = self.arg(Arg::Int(i64::from(limit) + 1));
        self.text.push_str(&format!(" LIMIT {l}"));
    }
}

/// A full-text index (SQLite FTS5 with the trigram tokenizer) to narrow a text search to.
#[derive(Debug, Clone)]
pub(crate) struct TextIndex {
    /// The FTS5 table, e.g. `users_fts`.
    pub table: &'static str,
    /// The searched table's rowid column, e.g. `u.rowid`.
    pub rowid: &'static str,
    /// The FTS5 query, from [`trigram_phrase`].
    pub phrase: String,
}

/// The text a search matches: trimmed and lower-cased, as [`like_pattern`] uses it.
fn search_text(q: &str) -> String {
    q.trim().to_lowercase()
}

/// The FTS5 query matching the rows that contain `q` (ignoring case), for a trigram index:
/// `q` as one quoted phrase with `"` doubled, so nothing in it is read as query syntax (`OR`,
/// `NEAR`, `*`, `-`, `^`, column filters). `None` when a trigram index cannot find it: fewer
/// than three characters (a trigram index has nothing to look up), or a control character
/// (whose handling by the tokenizer and by `LIKE` may differ).
pub(crate) fn trigram_phrase(q: &str) -> Option<String> {
    let text = search_text(q);
    if text.chars().count() < 3 || text.chars().any(char::is_control) {
        return None;
    }
    Some(format!("\"{}\"", text.replace('"', "\"\"")))
}

/// `%q%` with LIKE wildcards escaped, lower-cased.
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for ch in search_text(q).chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// Cuts the extra row fetched by [`Sql::keyset`] and builds the next cursor from the last item.
pub(crate) fn paginate<T>(
    mut items: Vec<T>,
    limit: u32,
    sort: &str,
    key: impl Fn(&T) -> (String, Uuid),
) -> cc_domain::Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|last| {
            let (v, id) = key(last);
            Cursor {
                s: sort.to_owned(),
                v,
                id,
            }
            .encode()
        })
    } else {
        None
    };
    cc_domain::Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_wildcards() {
        assert_eq!(like_pattern(" A_b%c\\ "), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn quotes_fts_queries_as_one_phrase() {
        assert_eq!(trigram_phrase(" AbC ").as_deref(), Some("\"abc\""));
        assert_eq!(
            trigram_phrase("a\"b OR c*").as_deref(),
            Some("\"a\"\"b or c*\"")
        );
        assert_eq!(
            trigram_phrase("\"\"\"").as_deref(),
            Some("\"\"\"\"\"\"\"\"")
        );
        assert_eq!(trigram_phrase("ÉCO").as_deref(), Some("\"éco\""));
        assert_eq!(
            trigram_phrase(" ab "),
            None,
            "two characters have no trigram"
        );
        assert_eq!(trigram_phrase("é€"), None);
        assert_eq!(trigram_phrase("ab\u{0}c"), None);
    }

    #[test]
    fn numbers_placeholders() {
        let mut s = Sql::new("SELECT 1 WHERE 1=1");
        s.eq("a", Arg::Int(1)).eq("b", Arg::Bool(true));
        s.keyset("id", Some("name"), SortDir::Desc, None, 10);
        assert_eq!(
            s.text,
            "SELECT 1 WHERE 1=1 AND a = $1 AND b = $2 ORDER BY name DESC, id DESC LIMIT $3"
        );
    }
}
