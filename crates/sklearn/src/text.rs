//! Text features: `CountVectorizer`, `TfidfVectorizer`, `HashingVectorizer` and `TfidfTransformer`, with
//! scikit-learn's built-in analyzers (`word` with a `token_pattern`, `char`, `char_wb`), `lowercase`,
//! `strip_accents`, stop words and n-grams.
//!
//! A vectorizer takes raw documents ([`Estimator::vectorize`] / [`Estimator::call_strings`]) and yields a sparse
//! document-term matrix, so a pipeline never allocates rows × vocabulary densely on its way to a linear model or
//! naive Bayes. Everything a user can plug in as Python code (`analyzer`, `tokenizer` or `preprocessor` callables)
//! is refused at load, and so is a `token_pattern` the `regex` crate would not run exactly as Python's `re`.

use std::collections::{HashMap, HashSet};

use oxserve_pickle::{Object, Value};
use regex::Regex;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

use crate::attrs;
use crate::{Estimator, Matrix, Method, Output, SklearnError, SparseMatrix};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "CountVectorizer",
    "HashingVectorizer",
    "TfidfTransformer",
    "TfidfVectorizer",
];

/// The largest `ngram_range` upper bound accepted: a hostile file cannot make one short document cost
/// tokens × 10⁹ n-grams.
const MAX_NGRAM: usize = 64;

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    Some(match obj.class_name() {
        "CountVectorizer" | "TfidfVectorizer" | "HashingVectorizer" => {
            Vectorizer::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>)
        }
        "TfidfTransformer" => Tfidf::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>),
        _ => return None,
    })
}

/// `analyzer`: what a document is cut into.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Tokens of `token_pattern`, stop words removed, then word n-grams.
    Word,
    /// Character n-grams of the whole (whitespace-collapsed) document.
    Char,
    /// Character n-grams inside each whitespace-separated word padded with one space.
    CharWb,
}

/// `strip_accents`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Accents {
    None,
    /// NFKD, then only the ASCII characters (`encode("ASCII", "ignore")`).
    Ascii,
    /// NFKD, then the combining characters removed (when NFKD changed the text).
    Unicode,
}

/// scikit-learn's `build_analyzer()`: preprocessing, tokenisation, stop words and n-grams.
#[derive(Debug)]
struct Analyzer {
    kind: Kind,
    lowercase: bool,
    accents: Accents,
    /// The compiled `token_pattern` (word analyzer only).
    token: Option<Regex>,
    /// The pattern has one capturing group: a token is that group's text (Python's `findall`).
    token_group: bool,
    stop_words: Option<HashSet<String>>,
    min_n: usize,
    max_n: usize,
}

/// Collapses runs of two or more whitespace characters into one space (scikit-learn's `_white_spaces`, `\s\s+`).
fn collapse_white_space(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() && chars.peek().is_some_and(|n| n.is_whitespace()) {
            while chars.peek().is_some_and(|n| n.is_whitespace()) {
                chars.next();
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

fn strip_accents_unicode(s: &str) -> String {
    let nfkd: String = s.nfkd().collect();
    if nfkd == s {
        return nfkd;
    }
    nfkd.chars()
        .filter(|&c| canonical_combining_class(c) == 0)
        .collect()
}

fn strip_accents_ascii(s: &str) -> String {
    s.nfkd().filter(char::is_ascii).collect()
}

/// Refuses a `token_pattern` whose meaning differs between Python's `re` and the `regex` crate, or that the crate
/// cannot run, and compiles the rest. Returns the regex and whether a token is its one capturing group.
fn compile_token_pattern(class: &str, pattern: &str) -> Result<(Regex, bool), SklearnError> {
    let refuse = |why: String| {
        SklearnError::bad_model(
            class,
            format!(
                "`token_pattern` {pattern:?} {why}; only patterns that Rust's `regex` crate runs exactly as Python's `re` are supported"
            ),
        )
    };
    // Set operations and nested classes inside `[...]` are literal characters to Python but syntax to the crate;
    // `$` also matches before a final newline in Python; `\Z` and `\A`-style escapes differ in spelling.
    for (needle, why) in [
        (
            "&&",
            "uses `&&` (a class intersection in Rust, literal in Python)",
        ),
        (
            "--",
            "uses `--` (a class difference in Rust, literal in Python)",
        ),
        (
            "~~",
            "uses `~~` (a class symmetric difference in Rust, literal in Python)",
        ),
        (
            "[[",
            "uses `[[` (a nested class in Rust, literal in Python)",
        ),
    ] {
        if pattern.contains(needle) {
            return Err(refuse(why.to_string()));
        }
    }
    let mut escaped = false;
    for c in pattern.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '$' => {
                return Err(refuse(
                    "uses `$` (Python's also matches before a final newline)".into(),
                ));
            }
            _ => {}
        }
    }
    let hir = regex_syntax::parse(pattern).map_err(|e| refuse(format!("is not supported: {e}")))?;
    if hir.properties().minimum_len() == Some(0) {
        return Err(refuse(
            "can match the empty string (Python and Rust report empty matches differently)".into(),
        ));
    }
    let regex = Regex::new(pattern).map_err(|e| refuse(format!("is not supported: {e}")))?;
    // `captures_len` counts the implicit group 0.
    let groups = regex.captures_len() - 1;
    if groups > 1 {
        return Err(SklearnError::bad_model(
            class,
            format!(
                "More than 1 capturing group in token pattern {pattern:?}. Only a single group should be captured."
            ),
        ));
    }
    Ok((regex, groups == 1))
}

/// The words of a `stop_words` value: `None`, `'english'`, or a list/tuple/set/frozenset of strings.
fn stop_words(obj: &Object) -> Result<Option<HashSet<String>>, SklearnError> {
    let class = obj.class_name();
    match attrs::opt(obj, "stop_words") {
        None => Ok(None),
        Some(Value::Str(s)) if s == "english" => Ok(Some(
            crate::stop_words::ENGLISH_STOP_WORDS
                .iter()
                .map(|w| (*w).to_string())
                .collect(),
        )),
        Some(Value::Str(s)) => Err(SklearnError::bad_model(
            class,
            format!("`stop_words` {s:?} is not a built-in stop list (only 'english' is)"),
        )),
        Some(Value::List(items) | Value::Tuple(items) | Value::Set(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    SklearnError::bad_model(class, format!("`stop_words` holds a {}", v.kind()))
                })
            })
            .collect::<Result<HashSet<_>, _>>()
            .map(Some),
        Some(other) => Err(SklearnError::bad_model(
            class,
            format!("unsupported `stop_words` of type {}", other.kind()),
        )),
    }
}

impl Analyzer {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        if let Some(input) = attrs::opt_str(obj, "input")
            && input != "content"
        {
            return Err(bad(format!(
                "`input={input:?}` reads files on the server; only 'content' (the documents themselves) is supported"
            )));
        }
        for key in ["preprocessor", "tokenizer"] {
            if let Some(v) = attrs::opt(obj, key) {
                return Err(bad(format!(
                    "a custom `{key}` ({}) is Python code; only the built-in one is supported",
                    v.kind()
                )));
            }
        }
        let kind = match attrs::opt(obj, "analyzer") {
            None => Kind::Word,
            Some(Value::Str(s)) => match s.as_str() {
                "word" => Kind::Word,
                "char" => Kind::Char,
                "char_wb" => Kind::CharWb,
                other => return Err(bad(format!("unknown `analyzer` {other:?}"))),
            },
            Some(v) => {
                return Err(bad(format!(
                    "a custom `analyzer` ({}) is Python code; only 'word', 'char' and 'char_wb' are supported",
                    v.kind()
                )));
            }
        };
        let accents = match attrs::opt(obj, "strip_accents") {
            None => Accents::None,
            Some(Value::Str(s)) if s == "ascii" => Accents::Ascii,
            Some(Value::Str(s)) if s == "unicode" => Accents::Unicode,
            Some(v) => {
                return Err(bad(format!(
                    "unsupported `strip_accents` {v:?}; only None, 'ascii' and 'unicode' are supported"
                )));
            }
        };
        let (min_n, max_n) = match attrs::opt(obj, "ngram_range").and_then(Value::as_seq) {
            None => (1, 1),
            Some([a, b]) => {
                let n = |v: &Value| v.as_i64().and_then(|i| usize::try_from(i).ok());
                match (n(a), n(b)) {
                    (Some(a), Some(b)) if 1 <= a && a <= b && b <= MAX_NGRAM => (a, b),
                    _ => {
                        return Err(bad(format!(
                            "`ngram_range` must be (min_n, max_n) with 1 <= min_n <= max_n <= {MAX_NGRAM}"
                        )));
                    }
                }
            }
            Some(_) => return Err(bad("`ngram_range` is not a pair".into())),
        };
        let (token, token_group) = if kind == Kind::Word {
            let pattern = match attrs::opt(obj, "token_pattern") {
                Some(Value::Str(p)) => p.as_str(),
                None => {
                    return Err(bad(
                        "`token_pattern` is None with the word analyzer and no tokenizer".into(),
                    ));
                }
                Some(v) => return Err(bad(format!("`token_pattern` is a {}", v.kind()))),
            };
            let (re, group) = compile_token_pattern(class, pattern)?;
            (Some(re), group)
        } else {
            (None, false)
        };
        let stop_words = if kind == Kind::Word {
            stop_words(obj)?
        } else {
            None
        };
        Ok(Analyzer {
            kind,
            lowercase: attrs::flag(obj, "lowercase", true),
            accents,
            token,
            token_group,
            stop_words,
            min_n,
            max_n,
        })
    }

    /// `decode` is the identity on `str`; then lowercase, then strip accents (scikit-learn's `_preprocess`).
    fn preprocess<'a>(&self, doc: &'a str) -> std::borrow::Cow<'a, str> {
        let mut doc = std::borrow::Cow::Borrowed(doc);
        if self.lowercase {
            doc = std::borrow::Cow::Owned(doc.to_lowercase());
        }
        match self.accents {
            Accents::None => doc,
            Accents::Ascii => std::borrow::Cow::Owned(strip_accents_ascii(&doc)),
            Accents::Unicode => std::borrow::Cow::Owned(strip_accents_unicode(&doc)),
        }
    }

    /// Calls `emit` with every feature (n-gram) of `doc`, in scikit-learn's order.
    fn analyze(&self, doc: &str, emit: &mut dyn FnMut(&str)) {
        let doc = self.preprocess(doc);
        match self.kind {
            Kind::Word => self.word_ngrams(&doc, emit),
            Kind::Char => self.char_ngrams(&doc, emit),
            Kind::CharWb => self.char_wb_ngrams(&doc, emit),
        }
    }

    fn word_ngrams(&self, doc: &str, emit: &mut dyn FnMut(&str)) {
        let Some(re) = &self.token else { return };
        let mut tokens: Vec<&str> = if self.token_group {
            re.captures_iter(doc)
                .map(|c| c.get(1).map_or("", |m| m.as_str()))
                .collect()
        } else {
            re.find_iter(doc).map(|m| m.as_str()).collect()
        };
        if let Some(stop) = &self.stop_words {
            tokens.retain(|t| !stop.contains(*t));
        }
        let mut min_n = self.min_n;
        if min_n == 1 {
            tokens.iter().for_each(|t| emit(t));
            min_n = 2;
        }
        let mut gram = String::new();
        for n in min_n..=self.max_n.min(tokens.len()) {
            for window in tokens.windows(n) {
                gram.clear();
                for (i, t) in window.iter().enumerate() {
                    if i > 0 {
                        gram.push(' ');
                    }
                    gram.push_str(t);
                }
                emit(&gram);
            }
        }
    }

    fn char_ngrams(&self, doc: &str, emit: &mut dyn FnMut(&str)) {
        let text = collapse_white_space(doc);
        // Byte offsets of every character boundary, so n-grams of code points are slices.
        let bounds: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .collect();
        let len = bounds.len() - 1;
        for n in self.min_n..=self.max_n.min(len) {
            for i in 0..=(len - n) {
                emit(&text[bounds[i]..bounds[i + n]]);
            }
        }
    }

    fn char_wb_ngrams(&self, doc: &str, emit: &mut dyn FnMut(&str)) {
        let text = collapse_white_space(doc);
        let mut padded = String::new();
        // Python's `str.split()` with no argument: runs of whitespace separate words.
        for word in text.split(char::is_whitespace).filter(|w| !w.is_empty()) {
            padded.clear();
            padded.push(' ');
            padded.push_str(word);
            padded.push(' ');
            let bounds: Vec<usize> = padded
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(padded.len()))
                .collect();
            let w_len = bounds.len() - 1;
            for n in self.min_n..=self.max_n {
                // scikit-learn emits w[0:n] even when n > len(w) (the whole padded word), then slides while
                // offset + n < len(w); a short word counts once.
                let mut offset = 0;
                emit(&padded[bounds[0]..bounds[n.min(w_len)]]);
                while offset + n < w_len {
                    offset += 1;
                    emit(&padded[bounds[offset]..bounds[offset + n]]);
                }
                if offset == 0 {
                    break;
                }
            }
        }
    }
}

/// The feature space a vectorizer maps n-grams into.
#[derive(Debug)]
enum Space {
    /// `vocabulary_`: n-gram → column.
    Vocabulary(HashMap<String, usize>),
    /// MurmurHash3 of the n-gram's UTF-8 bytes, modulo `n_features`, signed when `alternate_sign`.
    Hashing {
        n_features: usize,
        alternate_sign: bool,
    },
}

/// `norm`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Norm {
    None,
    L1,
    L2,
}

fn norm(obj: &Object) -> Result<Norm, SklearnError> {
    match attrs::opt(obj, "norm") {
        None => Ok(Norm::None),
        Some(Value::Str(s)) if s == "l2" => Ok(Norm::L2),
        Some(Value::Str(s)) if s == "l1" => Ok(Norm::L1),
        Some(v) => Err(SklearnError::bad_model(
            obj.class_name(),
            format!("unsupported `norm` {v:?}; only 'l1', 'l2' and None are supported"),
        )),
    }
}

/// scikit-learn's `normalize(X, norm)` on the stored entries: a row whose norm is 0 stays as it is.
fn normalize(x: &mut SparseMatrix, norm: Norm) {
    if norm == Norm::None {
        return;
    }
    for i in 0..x.rows() {
        let row = x.row_values_mut(i);
        let n = match norm {
            Norm::L1 => row.iter().map(|v| v.abs()).sum::<f64>(),
            _ => row.iter().map(|v| v * v).sum::<f64>().sqrt(),
        };
        if n != 0.0 {
            row.iter_mut().for_each(|v| *v /= n);
        }
    }
}

/// The idf that scikit-learn < 1.5 keeps as `_idf_diag`: the diagonal of an n × n scipy CSR matrix (`data`,
/// `indices`, `indptr`, `_shape`). Anything but a square matrix with entries on its diagonal only is refused; a
/// diagonal entry that is absent is 0, as the matrix product makes it.
fn idf_of_diagonal(obj: &Object) -> Result<Vec<f64>, SklearnError> {
    let class = obj.class_name();
    let bad = |what: String| SklearnError::bad_model(class, format!("`_idf_diag`: {what}"));
    let diag = attrs::object(obj, "_idf_diag")?;
    let data = attrs::f64_vec(diag, "data")?;
    let indices = attrs::f64_vec(diag, "indices")?;
    let indptr = attrs::f64_vec(diag, "indptr")?;
    let n = indptr
        .len()
        .checked_sub(1)
        .ok_or_else(|| bad("`indptr` is empty".into()))?;
    if let Some(shape) = attrs::opt(diag, "_shape").and_then(attrs::seq_of) {
        let dims: Vec<Option<f64>> = shape.iter().map(|d| d.as_f64()).collect();
        if dims != [Some(n as f64), Some(n as f64)] {
            return Err(bad(format!("shape {dims:?} is not {n} × {n}")));
        }
    }
    if data.len() != indices.len() {
        return Err(bad(format!(
            "{} values for {} column indices",
            data.len(),
            indices.len()
        )));
    }
    let offset = |k: usize| -> Result<usize, SklearnError> {
        let x = indptr[k];
        if x.fract() == 0.0 && x >= 0.0 && x <= data.len() as f64 {
            Ok(x as usize)
        } else {
            Err(bad(format!(
                "`indptr[{k}]` = {x} is outside 0..={}",
                data.len()
            )))
        }
    };
    let mut idf = vec![0.0; n];
    for (i, slot) in idf.iter_mut().enumerate() {
        let (start, end) = (offset(i)?, offset(i + 1)?);
        if end < start {
            return Err(bad(format!("`indptr` decreases at row {i}")));
        }
        for k in start..end {
            if indices[k] != i as f64 {
                return Err(bad(format!(
                    "row {i} has an entry in column {} (not a diagonal matrix)",
                    indices[k]
                )));
            }
            *slot = data[k];
        }
    }
    Ok(idf)
}

/// `TfidfTransformer` (alone, or inside a `TfidfVectorizer` as its `_tfidf`).
#[derive(Debug)]
struct Tfidf {
    sublinear_tf: bool,
    idf: Option<Vec<f64>>,
    norm: Norm,
    n_features: Option<usize>,
}

impl Tfidf {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let use_idf = attrs::flag(obj, "use_idf", true);
        let idf = if use_idf {
            if obj.get("idf_").is_none() && obj.get("_idf_diag").is_some() {
                Some(idf_of_diagonal(obj)?)
            } else {
                Some(attrs::f64_vec(obj, "idf_")?)
            }
        } else {
            None
        };
        let n_features = idf
            .as_ref()
            .map(Vec::len)
            .or_else(|| attrs::n_features_in(obj));
        Ok(Tfidf {
            sublinear_tf: attrs::flag(obj, "sublinear_tf", false),
            idf,
            norm: norm(obj)?,
            n_features,
        })
    }

    /// `TfidfTransformer.transform` on a sparse batch.
    fn apply(&self, mut x: SparseMatrix, class: &str) -> Result<SparseMatrix, SklearnError> {
        if let Some(n) = self.n_features {
            x.expect_features(n, class)?;
        }
        if self.sublinear_tf {
            x.values_mut().iter_mut().for_each(|v| *v = v.ln() + 1.0);
        }
        if let Some(idf) = &self.idf {
            for i in 0..x.rows() {
                let (idx, _) = x.row(i);
                let weights: Vec<f64> = idx.iter().map(|&j| idf[j]).collect();
                x.row_values_mut(i)
                    .iter_mut()
                    .zip(weights)
                    .for_each(|(v, w)| *v *= w);
            }
        }
        normalize(&mut x, self.norm);
        Ok(x)
    }
}

impl Estimator for Tfidf {
    fn class_name(&self) -> &str {
        "TfidfTransformer"
    }

    fn n_features_in(&self) -> Option<usize> {
        self.n_features
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Transform
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        crate::math::check_input(x, self.n_features, "TfidfTransformer", false)?;
        let out = self.apply(SparseMatrix::from_dense(x), "TfidfTransformer")?;
        Ok(Output::Matrix(out.to_dense()?))
    }

    fn transform_sparse(&self, x: &SparseMatrix) -> Result<SparseMatrix, SklearnError> {
        self.apply(x.clone(), "TfidfTransformer")
    }
}

/// `CountVectorizer`, `TfidfVectorizer` (counts then its `_tfidf`) or `HashingVectorizer`.
#[derive(Debug)]
struct Vectorizer {
    class: String,
    analyzer: Analyzer,
    space: Space,
    binary: bool,
    /// `HashingVectorizer`'s own `norm`.
    norm: Norm,
    /// `TfidfVectorizer`'s fitted `_tfidf`.
    tfidf: Option<Tfidf>,
}

impl Vectorizer {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let analyzer = Analyzer::from_object(obj)?;
        let (space, norm_) = if class == "HashingVectorizer" {
            let n_features = attrs::opt(obj, "n_features")
                .map_or(Some(1 << 20), |v| {
                    v.as_i64().and_then(|i| usize::try_from(i).ok())
                })
                .filter(|&n| (1..=i32::MAX as usize).contains(&n))
                .ok_or_else(|| bad("`n_features` must be an int in 1..=2**31-1".into()))?;
            (
                Space::Hashing {
                    n_features,
                    alternate_sign: attrs::flag(obj, "alternate_sign", true),
                },
                norm(obj)?,
            )
        } else {
            (
                Space::Vocabulary(attrs::vocabulary(obj, class)?),
                Norm::None,
            )
        };
        let tfidf = if class == "TfidfVectorizer" {
            let t = Tfidf::from_object(attrs::object(obj, "_tfidf")?)?;
            let n = match &space {
                Space::Vocabulary(v) => v.len(),
                Space::Hashing { n_features, .. } => *n_features,
            };
            if t.idf.as_ref().is_some_and(|idf| idf.len() != n) {
                return Err(bad(format!(
                    "`idf_` has {} values for a vocabulary of {n}",
                    t.idf.as_ref().map_or(0, Vec::len)
                )));
            }
            Some(t)
        } else {
            None
        };
        Ok(Vectorizer {
            class: class.to_string(),
            analyzer,
            space,
            binary: attrs::flag(obj, "binary", false),
            norm: norm_,
            tfidf,
        })
    }

    fn n_columns(&self) -> usize {
        match &self.space {
            Space::Vocabulary(v) => v.len(),
            Space::Hashing { n_features, .. } => *n_features,
        }
    }
}

impl Estimator for Vectorizer {
    fn class_name(&self) -> &str {
        &self.class
    }

    /// Vectorizers take documents, not feature columns (scikit-learn sets no `n_features_in_`).
    fn n_features_in(&self) -> Option<usize> {
        None
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Transform
    }

    fn call(&self, _method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        Err(SklearnError::BadInput(format!(
            "{} takes raw documents (a 1-D array of strings), not numbers (got a {}x{} numeric batch)",
            self.class,
            x.rows(),
            x.cols()
        )))
    }

    fn takes_strings(&self) -> bool {
        true
    }

    fn vectorize(&self, docs: &[&str]) -> Result<SparseMatrix, SklearnError> {
        let mut rows = Vec::with_capacity(docs.len());
        for doc in docs {
            let mut row: Vec<(usize, f64)> = Vec::new();
            match &self.space {
                Space::Vocabulary(vocab) => self.analyzer.analyze(doc, &mut |gram| {
                    if let Some(&j) = vocab.get(gram) {
                        row.push((j, 1.0));
                    }
                }),
                Space::Hashing {
                    n_features,
                    alternate_sign,
                } => self.analyzer.analyze(doc, &mut |gram| {
                    let h = murmurhash3_32(gram.as_bytes(), 0) as i32;
                    // scikit-learn's `_hashing_fast`: abs(h) (2**31 for i32::MIN), modulo n_features; the sign
                    // of h when alternate_sign.
                    let j = (h.unsigned_abs() as usize) % n_features;
                    let v = if *alternate_sign && h < 0 { -1.0 } else { 1.0 };
                    row.push((j, v));
                }),
            }
            rows.push(row);
        }
        let mut x = SparseMatrix::from_rows(self.n_columns(), rows)?;
        if self.binary {
            x.values_mut().iter_mut().for_each(|v| *v = 1.0);
        }
        normalize(&mut x, self.norm);
        match &self.tfidf {
            Some(t) => t.apply(x, &self.class),
            None => Ok(x),
        }
    }
}

/// MurmurHash3 x86 32-bit (scikit-learn's `murmurhash3_32`, which `HashingVectorizer` calls with seed 0).
pub(crate) fn murmurhash3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, &b) in tail.iter().enumerate() {
            k |= u32::from(b) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmurhash3_matches_scikit_learn() {
        // sklearn.utils.murmurhash3_32(..., seed=0, positive=True)
        assert_eq!(murmurhash3_32(b"foo", 0), 4138058784);
        assert_eq!(murmurhash3_32(b"", 0), 0);
        assert_eq!(murmurhash3_32(b"hello world", 0), 1586663183);
    }

    #[test]
    fn collapses_white_space_runs_only() {
        assert_eq!(collapse_white_space("a  b\t\nc d"), "a b c d");
    }

    #[test]
    fn refuses_patterns_python_reads_differently() {
        for p in [
            r"[a&&b]\w+",
            r"\w+$",
            r"(?=a)\w+",
            r"(\w)\1",
            r"\w*",
            r"(a)(b)",
        ] {
            assert!(compile_token_pattern("CountVectorizer", p).is_err(), "{p}");
        }
        assert!(compile_token_pattern("CountVectorizer", r"(?u)\b\w\w+\b").is_ok());
        assert!(compile_token_pattern("CountVectorizer", r"#?(\w+)").is_ok_and(|(_, g)| g));
    }
}
