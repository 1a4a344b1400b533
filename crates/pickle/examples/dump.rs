//! Prints an outline of a joblib/pickle file's value tree: `cargo run -p oxserve-pickle --example dump -- FILE [DEPTH]`.

use oxserve_pickle::{ArrayData, Value};

fn outline(v: &Value, indent: usize, depth: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    let line = match v {
        Value::Array(a) => {
            let preview = match &a.data {
                ArrayData::Float(x) => format!("{:?}", &x[..x.len().min(4)]),
                ArrayData::Int(x) => format!("{:?}", &x[..x.len().min(4)]),
                ArrayData::UInt(x) => format!("{:?}", &x[..x.len().min(4)]),
                ArrayData::Bool(x) => format!("{:?}", &x[..x.len().min(4)]),
                ArrayData::Str(x) => format!("{:?}", &x[..x.len().min(4)]),
                ArrayData::Object(x) => format!("{} objects", x.len()),
                ArrayData::Record(_) => "records".to_string(),
            };
            format!("{} {:?} {preview}", v.kind(), a.shape)
        }
        Value::Str(s) => format!("{s:?}"),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::None => "None".into(),
        Value::Dtype(d) => format!("dtype {}", d.descr()),
        Value::Bytes(b) => format!("bytes[{}]", b.len()),
        other => other.kind(),
    };
    out.push_str(&format!("{pad}{line}\n"));
    if indent >= depth {
        return;
    }
    match v {
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            for item in items {
                outline(item, indent + 1, depth, out);
            }
        }
        Value::Dict(items) => {
            for (k, item) in items {
                out.push_str(&format!(
                    "{pad}  [{}]\n",
                    k.as_str().map_or_else(|| k.kind(), str::to_string)
                ));
                outline(item, indent + 2, depth, out);
            }
        }
        Value::Object(o) => {
            if !o.args.is_empty() {
                out.push_str(&format!("{pad}  args:\n"));
                for a in &o.args {
                    outline(a, indent + 2, depth, out);
                }
            }
            if !o.state.is_none() {
                out.push_str(&format!("{pad}  state:\n"));
                outline(&o.state, indent + 2, depth, out);
            }
        }
        Value::Array(a) => {
            if let ArrayData::Object(items) = &a.data {
                for item in items.iter().take(8) {
                    outline(item, indent + 1, depth, out);
                }
            }
        }
        _ => {}
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: dump FILE [DEPTH]");
        std::process::exit(2);
    };
    let depth = args.next().and_then(|d| d.parse().ok()).unwrap_or(6);
    match oxserve_pickle::load_file(std::path::Path::new(&path)) {
        Ok(v) => {
            let mut out = String::new();
            outline(&v, 0, depth, &mut out);
            print!("{out}");
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
