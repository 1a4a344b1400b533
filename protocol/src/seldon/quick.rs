//! The common Seldon request read in one pass without serde: `{"data":{"names":[…],"ndarray":[[…]]},"meta":{}}`,
//! a numeric `ndarray` with optional plain `names` and an empty (or absent) `meta`.
//!
//! It is a fast path, not a second reader: it either builds exactly the [`SeldonMessage`] that the general
//! reader ([`SeldonMessage::from_json_general`], serde) builds from the same text, or it declines (`None`) and
//! the general reader reads the text, errors included. It declines on anything outside that shape: another
//! key, a duplicate key, an escape or control character in a string, `null`, a string or a boolean in the
//! array, an empty or ragged list, a nesting of more than 32 lists, an integer of more than 18 digits, a number
//! that overflows `f64`, invalid JSON, or a shape its budget refuses. The protocol's fuzz harness checks the
//! equivalence on every input it runs (`protocol/fuzz-harness`).
//!
//! What it saves: serde's derived struct visitors, the `WireMessage` step and serde_json's number parser (the
//! seed's iris request: ~4,100 instructions read by serde, ~2,000 by this; `scripts/bench-instructions.sh`).

use oxserve_core::{Tensor, TensorData};

use super::message::{DataArray, DefaultData, Meta, Payload, SeldonMessage};
use crate::limits::Budget;
use crate::scan::{Leaves, Reader};

/// Reads `json` if it is the common request shape; `None` to leave it to the general reader.
pub(crate) fn read(json: &[u8], budget: &mut Budget) -> Option<SeldonMessage> {
    let mut r = Reader::new(json);
    let mut data = None;
    let mut meta = false;
    r.object(|r, key| match key {
        b"data" if data.is_none() => {
            data = Some(self::data(r)?);
            Some(())
        }
        b"meta" if !meta => {
            meta = true;
            r.empty_object()
        }
        _ => None,
    })?;
    if !r.at_end() {
        return None;
    }
    let (names, tensor) = data?;
    budget.shape(tensor.shape()).ok()?;
    Some(SeldonMessage {
        meta: Meta::default(),
        payload: Payload::Data(DefaultData {
            names,
            array: DataArray::NdArray(tensor),
        }),
        status: None,
    })
}

/// `data`: `names` (optional) and `ndarray`, nothing else.
fn data(r: &mut Reader<'_>) -> Option<(Vec<String>, Tensor)> {
    let mut names = None;
    let mut ndarray = None;
    r.object(|r, key| match key {
        b"names" if names.is_none() => {
            names = Some(r.list(Reader::owned_string)?);
            Some(())
        }
        b"ndarray" if ndarray.is_none() => {
            let (shape, leaves) = r.nested_numbers()?;
            let values = match leaves {
                Leaves::Ints(v) => TensorData::I64(v),
                Leaves::Floats(v) => TensorData::F64(v),
                // Every list holds an element, so a number was read.
                Leaves::None => return None,
            };
            ndarray = Some(Tensor::new(shape, values).ok()?);
            Some(())
        }
        _ => None,
    })?;
    Some((names.unwrap_or_default(), ndarray?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::RequestLimits;
    use crate::scan::MAX_DEPTH;

    fn quick(json: &str) -> Option<SeldonMessage> {
        read(json.as_bytes(), &mut RequestLimits::default().budget())
    }

    /// The fast path's message, or `None`, after checking it against the general reader's.
    fn agreed(json: &str) -> Option<SeldonMessage> {
        let fast = quick(json);
        if let Some(message) = &fast {
            let general =
                SeldonMessage::from_json_general(json.as_bytes(), &RequestLimits::default());
            assert_eq!(
                format!("{:?}", Ok::<_, ()>(message)),
                format!("{:?}", general.as_ref().map_err(|_| ())),
                "{json}"
            );
        }
        fast
    }

    #[test]
    fn reads_the_common_requests_as_the_general_reader_does() {
        for json in [
            r#"{"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}"#,
            r#"{"meta":{},"data":{"names":["a","b","c","d"],"ndarray":[[5.1,3.5,1.4,0.2],[1,2,3,4]]}}"#,
            r#" {"data" : {"ndarray" : [1, 2, 3], "names": []} , "meta" : {} }  "#,
            r#"{"data":{"ndarray":[[-0,0,-0.0,1E2,1e-400,2.5e+3]]}}"#,
            r#"{"data":{"ndarray":[[[1],[2]],[[3],[4]]]}}"#,
            r#"{"data":{"ndarray":[1,2.5,-3]}}"#,
            r#"{"data":{"ndarray":[123456789012345678,-123456789012345678]}}"#,
            r#"{"data":{"names":["ü","a b"],"ndarray":[[1]]}}"#,
        ] {
            assert!(agreed(json).is_some(), "{json}");
        }
        let Some(SeldonMessage {
            payload: Payload::Data(data),
            ..
        }) = quick(r#"{"data":{"names":["x"],"ndarray":[[1,2],[3,4]]}}"#)
        else {
            panic!("not read");
        };
        assert_eq!(data.names, ["x"]);
        let tensor = data.array.tensor().expect("a tensor");
        assert_eq!(tensor.shape(), [2, 2]);
        assert_eq!(tensor.data(), &TensorData::I64(vec![1, 2, 3, 4]));
    }

    #[test]
    fn leaves_everything_else_to_the_general_reader() {
        for json in [
            r#"{"data":{"ndarray":[[1,2],[3]]}}"#,
            r#"{"data":{"ndarray":[[1,2],3]}}"#,
            r#"{"data":{"ndarray":[1,[2]]}}"#,
            r#"{"data":{"ndarray":[]}}"#,
            r#"{"data":{"ndarray":[[]]}}"#,
            r#"{"data":{"ndarray":5}}"#,
            r#"{"data":{"ndarray":[[1,null]]}}"#,
            r#"{"data":{"ndarray":[["a"]]}}"#,
            r#"{"data":{"ndarray":[[true]]}}"#,
            r#"{"data":{"ndarray":[1e400]}}"#,
            r#"{"data":{"ndarray":[1234567890123456789]}}"#,
            r#"{"data":{"ndarray":[01]}}"#,
            r#"{"data":{"ndarray":[1.]}}"#,
            r#"{"data":{"ndarray":[.5]}}"#,
            r#"{"data":{"ndarray":[+1]}}"#,
            r#"{"data":{"ndarray":[1,]}}"#,
            r#"{"data":{"ndarray":[1]},}"#,
            r#"{"data":{"ndarray":[1]}} x"#,
            r#"{"data":{"ndarray":[1]},"data":{"ndarray":[2]}}"#,
            r#"{"data":{"ndarray":[1],"ndarray":[2]}}"#,
            r#"{"data":{"ndarray":[1]},"meta":{"puid":"x"}}"#,
            r#"{"data":{"ndarray":[1]},"meta":{},"meta":{}}"#,
            r#"{"data":{"ndarray":[1]},"status":{}}"#,
            r#"{"data":{"tensor":{"shape":[1],"values":[1]}}}"#,
            r#"{"data":{"names":["a\"b"],"ndarray":[1]}}"#,
            r#"{"data":{"names":["a\u0062"],"ndarray":[1]}}"#,
            "{\"data\":{\"names\":[\"a\tb\"],\"ndarray\":[1]}}",
            r#"{"d\u0061ta":{"ndarray":[1]}}"#,
            r#"{"data":{"names":[1],"ndarray":[1]}}"#,
            r#"{"data":{}}"#,
            r#"{}"#,
            r#"[]"#,
            "",
        ] {
            assert!(agreed(json).is_none(), "{json}");
        }
        let deep = format!(
            r#"{{"data":{{"ndarray":{}1{}}}}}"#,
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert!(quick(&deep).is_none());
        assert!(SeldonMessage::from_json(deep.as_bytes(), &RequestLimits::default()).is_err());
        let deepest = format!(
            r#"{{"data":{{"ndarray":{}1{}}}}}"#,
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(agreed(&deepest).is_some());
    }

    /// The budget refuses what it would refuse the general reader: no message, and the general reader's error.
    #[test]
    fn charges_the_shape_to_the_budget() {
        let limits = RequestLimits::from_body_limit(64);
        let json = format!(r#"{{"data":{{"ndarray":[{}1]}}}}"#, "1,".repeat(100));
        assert!(read(json.as_bytes(), &mut limits.budget()).is_none());
        assert!(SeldonMessage::from_json(json.as_bytes(), &limits).is_err());
    }

    /// Numbers of every form the grammar allows, in generated arrays: whatever the fast path reads, the general
    /// reader reads the same.
    #[test]
    fn generated_numbers_agree_with_serde_json() {
        struct Rng(u64);
        impl Rng {
            fn next(&mut self, n: u64) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 % n
            }
            fn digits(&mut self, number: &mut String, n: u64) {
                for _ in 0..n {
                    number.push(char::from(b'0' + self.next(10) as u8));
                }
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut read_fast = 0;
        for _ in 0..20_000 {
            let mut number = String::new();
            if rng.next(2) == 0 {
                number.push('-');
            }
            match rng.next(22) {
                0 => number.push('0'),
                n => {
                    number.push(char::from(b'1' + rng.next(9) as u8));
                    rng.digits(&mut number, n - 1);
                }
            }
            if rng.next(2) == 0 {
                number.push('.');
                let n = 1 + rng.next(24);
                rng.digits(&mut number, n);
            }
            if rng.next(3) == 0 {
                number.push_str(["e", "E", "e+", "e-"][rng.next(4) as usize]);
                let exponent = if rng.next(2) == 0 {
                    rng.next(30)
                } else {
                    rng.next(700)
                };
                number.push_str(&exponent.to_string());
            }
            let json = format!(r#"{{"data":{{"ndarray":[[{number},7],[1,-2.5]]}}}}"#);
            if agreed(&json).is_some() {
                read_fast += 1;
            }
        }
        assert!(read_fast > 10_000, "{read_fast}");
    }
}
