//! `JsonBody<T>`: a JSON request body that takes a whole number written with
//! a fraction or an exponent (`2.0`, `1e3`) wherever an integer is expected.
//!
//! JSON Schema calls `2.0` an integer, so a client generated from the
//! OpenAPI document may send it; serde alone refuses it for an integer field.
//! The body goes through `web::Json<Value>` first, so the size limit, the
//! content type and malformed JSON are answered as `json_config` says; only
//! then are whole floats turned into integers and the value read as `T`, a
//! mismatch being a 400 `validation_failed`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

use crate::http::error::ApiError;

pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let mut value = json.await?.into_inner();
            whole_numbers_as_integers(&mut value);
            serde_json::from_value(value)
                .map(JsonBody)
                .map_err(|error| ApiError::validation(error.to_string()).into())
        })
    }
}

/// Every float with no fraction that an `i64` or `u64` holds exactly becomes
/// that integer; other numbers are left alone.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) if number.is_f64() => {
            if let Some(whole) = number.as_f64().and_then(whole) {
                *number = whole;
            }
        }
        Value::Number(_) => {}
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

fn whole(float: f64) -> Option<Number> {
    if !float.is_finite() || float.fract() != 0.0 {
        return None;
    }
    // 2^63 and 2^64 are exact as f64; below them every whole f64 is an integer.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&float) {
        Some(Number::from(float as i64))
    } else if (0.0..18_446_744_073_709_551_616.0).contains(&float) {
        Some(Number::from(float as u64))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn whole_floats_become_integers_and_other_numbers_stay() {
        let mut value: Value = serde_json::from_str(
            r#"{"a": 2.0, "b": [1e3, -0.0, 1.5], "c": {"d": 9007199254740992.0}, "e": 9223372036854775806, "f": 1e300, "g": "2.0"}"#,
        )
        .unwrap();
        whole_numbers_as_integers(&mut value);
        assert_eq!(
            value,
            json!({"a": 2, "b": [1000, 0, 1.5], "c": {"d": 9_007_199_254_740_992_i64}, "e": 9_223_372_036_854_775_806_i64, "f": 1e300, "g": "2.0"})
        );
        assert!(value["a"].is_i64() && value["f"].is_f64());
    }

    #[test]
    fn a_whole_float_near_2_pow_53_parses_exactly() {
        // Found by schemathesis: without serde_json's exact float parsing this
        // read as 1869602709248496.8 and a schema-valid id was refused.
        let mut value: Value = serde_json::from_str(r#"{"event_id": 1869602709248497.0}"#).unwrap();
        whole_numbers_as_integers(&mut value);
        assert_eq!(value, json!({"event_id": 1_869_602_709_248_497_i64}));
    }

    #[test]
    fn a_float_beyond_64_bits_stays_a_float() {
        assert_eq!(whole(18_446_744_073_709_551_616.0), None);
        assert_eq!(
            whole(-9_223_372_036_854_775_808.0),
            Some(Number::from(i64::MIN))
        );
        assert_eq!(whole(f64::NAN), None);
    }
}
