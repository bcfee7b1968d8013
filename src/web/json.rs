//! JSON bodies of the API and messages of the sockets, read so that a
//! mistake names its field (`payments[0].amount`), whatever the mistake: a
//! float where pesos go, a missing field, an unknown one. The API and the
//! sockets answer with one error shape: `{"type": "error", "code": …,
//! "message": …, "field": …}`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::{Decompress, Payload};
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, mime, web};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A request body is small; a larger one is not ours.
pub const LIMIT_BYTES: usize = 16 * 1024;

/// The one error shape of the API and the sockets.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(code: &'static str, message: impl Into<String>, field: Option<String>) -> Self {
        Self {
            kind: "error",
            code,
            message: message.into(),
            field,
        }
    }
}

/// Why a JSON document is not the request it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The field at fault, when one is (a path such as `payments[0].amount`).
    pub field: Option<String>,
    pub message: String,
    /// The JSON itself is malformed, rather than a value in it.
    pub syntax: bool,
}

/// Reads `T` from JSON, naming the field of the first mistake. `prefix`
/// is put before the field's path (a socket message's payload field).
pub fn read<'de, T, D>(deserializer: D, prefix: &str) -> Result<T, Unreadable>
where
    T: DeserializeOwned,
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof() || inner.is_io();
        let message = inner.to_string();
        // A missing or unknown field is named in serde's message, not the path.
        let named = quoted_field(&message);
        let field = match (path.as_str(), named) {
            (".", Some(name)) | ("", Some(name)) => Some(name),
            (".", None) | ("", None) => None,
            (path, Some(name)) if !path.ends_with(&name) => Some(format!("{path}.{name}")),
            (path, _) => Some(path.to_owned()),
        }
        .map(|field| join(prefix, &field));
        Unreadable {
            field: if syntax {
                None
            } else {
                field.or_else(|| (!prefix.is_empty()).then(|| prefix.to_owned()))
            },
            message: spanish(&message),
            syntax,
        }
    })
}

fn join(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// `missing field `key`` → `key`.
fn quoted_field(message: &str) -> Option<String> {
    let (kind, rest) = message.split_once('`')?;
    if !(kind.starts_with("missing field") || kind.starts_with("unknown field")) {
        return None;
    }
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

/// serde's message, said for a person: what was expected where.
fn spanish(message: &str) -> String {
    let without_position = message.split(" at line ").next().unwrap_or(message);
    if without_position.starts_with("missing field") {
        "falta este campo".to_owned()
    } else if without_position.starts_with("unknown field") {
        "este campo no existe".to_owned()
    } else if without_position.contains("floating point")
        || without_position.contains("expected i64")
    {
        format!("debe ser un número entero de pesos, sin decimales ({without_position})")
    } else {
        format!("valor no válido ({without_position})")
    }
}

/// A JSON request body read with [`read`]: refused with 415 unless it says
/// it is JSON (a form or plain text is what another site could send), 413
/// over the limit, 400 when malformed, 422 naming the field otherwise.
pub struct JsonBody<T>(pub T);

/// What a request type calls a value error (`invalid_sale` for sales).
pub trait Request: DeserializeOwned + 'static {
    const INVALID: &'static str = "invalid";
}

#[derive(Debug, thiserror::Error)]
#[error("{body:?}")]
pub struct JsonError {
    status: StatusCode,
    body: ErrorBody,
}

impl ResponseError for JsonError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(&self.body)
    }
}

impl<T: Request> FromRequest for JsonBody<T> {
    type Error = JsonError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, JsonError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<mime::Mime>().ok())
            .is_some_and(|mime| mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON));
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let body = Decompress::from_headers(payload.take(), req.headers());
        Box::pin(async move {
            if !is_json {
                return Err(JsonError {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    body: ErrorBody::new(
                        "unsupported_media_type",
                        "El cuerpo debe ser JSON (Content-Type: application/json).",
                        None,
                    ),
                });
            }
            let too_large = || JsonError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                body: ErrorBody::new(
                    "too_large",
                    format!("El cuerpo supera los {} KiB.", LIMIT_BYTES / 1024),
                    None,
                ),
            };
            if declared.is_some_and(|length| length > LIMIT_BYTES) {
                return Err(too_large());
            }
            let bytes = match read_body(body).await {
                Ok(bytes) => bytes,
                Err(BodyError::TooLarge) => return Err(too_large()),
                Err(BodyError::Broken) => {
                    return Err(JsonError {
                        status: StatusCode::BAD_REQUEST,
                        body: ErrorBody::new(
                            "invalid_json",
                            "No se pudo leer el cuerpo de la solicitud.",
                            None,
                        ),
                    });
                }
            };
            read(&mut serde_json::Deserializer::from_slice(&bytes), "")
                .map(JsonBody)
                .map_err(|unreadable| {
                    let (status, code) = if unreadable.syntax {
                        (StatusCode::BAD_REQUEST, "invalid_json")
                    } else {
                        (StatusCode::UNPROCESSABLE_ENTITY, T::INVALID)
                    };
                    let message = match &unreadable.field {
                        Some(field) => format!("{field}: {}", unreadable.message),
                        None => format!("El cuerpo no es JSON válido: {}", unreadable.message),
                    };
                    JsonError {
                        status,
                        body: ErrorBody::new(code, message, unreadable.field),
                    }
                })
        })
    }
}

/// Why a request body was not read.
enum BodyError {
    TooLarge,
    Broken,
}

/// Reads a body (decoded as its `Content-Encoding` says), refused as soon
/// as it passes [`LIMIT_BYTES`]. A body that comes in one piece, as a
/// sale's does, is kept as it came, not copied into a buffer.
async fn read_body(mut body: Decompress<Payload>) -> Result<web::Bytes, BodyError> {
    use futures_core::Stream;
    let mut first: Option<web::Bytes> = None;
    let mut joined = web::BytesMut::new();
    let mut length = 0;
    while let Some(piece) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await {
        let piece = piece.map_err(|_| BodyError::Broken)?;
        length += piece.len();
        if length > LIMIT_BYTES {
            return Err(BodyError::TooLarge);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(piece),
            earlier => {
                joined.extend_from_slice(&earlier.unwrap_or_default());
                joined.extend_from_slice(&piece);
            }
        }
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sale {
        #[allow(dead_code)]
        key: String,
        #[allow(dead_code)]
        payments: Vec<Payment>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Payment {
        #[allow(dead_code)]
        amount: i64,
    }

    fn field_of(json: &str) -> (Option<String>, bool) {
        let err =
            read::<Sale, _>(&mut serde_json::Deserializer::from_str(json), "sale").unwrap_err();
        (err.field, err.syntax)
    }

    #[test]
    fn every_mistake_names_its_field() {
        assert_eq!(
            field_of(r#"{"key": "k", "payments": [{"amount": 1.5}]}"#),
            (Some("sale.payments[0].amount".into()), false)
        );
        assert_eq!(
            field_of(r#"{"payments": []}"#),
            (Some("sale.key".into()), false)
        );
        assert_eq!(
            field_of(r#"{"key": "k", "payments": [{"amount": 1, "tip": 2}]}"#),
            (Some("sale.payments[0].tip".into()), false)
        );
        assert_eq!(
            field_of(r#"{"key": "k", "payments": [{}]}"#),
            (Some("sale.payments[0].amount".into()), false)
        );
        assert_eq!(field_of(r#"{"key": "k""#), (None, true));
    }

    impl Request for Sale {}

    /// `JsonBody<Sale>` of a request whose body comes in `pieces`.
    async fn body_of(
        pieces: Vec<&'static [u8]>,
        headers: &[(&'static str, String)],
    ) -> Result<JsonBody<Sale>, JsonError> {
        let mut request = actix_web::test::TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json"));
        for (name, value) in headers {
            request = request.insert_header((*name, value.clone()));
        }
        let (request, _) = request.to_http_parts();
        let stream = futures_util::stream::iter(
            pieces
                .into_iter()
                .map(|piece| Ok::<_, actix_web::error::PayloadError>(web::Bytes::from(piece))),
        );
        let mut payload = Payload::from(Box::pin(stream)
            as Pin<
                Box<
                    dyn futures_core::Stream<
                            Item = Result<web::Bytes, actix_web::error::PayloadError>,
                        >,
                >,
            >);
        JsonBody::<Sale>::from_request(&request, &mut payload).await
    }

    /// The status a read answers with (200: read).
    fn status(read: Result<JsonBody<Sale>, JsonError>) -> StatusCode {
        match read {
            Ok(_) => StatusCode::OK,
            Err(err) => err.status_code(),
        }
    }

    #[actix_web::test]
    async fn a_body_in_pieces_is_read_whole() {
        let read = body_of(
            vec![
                br#"{"key": "k", "#,
                br#""payments": "#,
                br#"[{"amount": 1500}]}"#,
            ],
            &[],
        )
        .await;
        assert_eq!(status(read), StatusCode::OK);
        let read = body_of(vec![br#"{"key": "k", "payments": []}"#], &[]).await;
        assert_eq!(status(read), StatusCode::OK, "one piece");
        let read = body_of(vec![br#"{"key": "k", "#, br#""payments": [{}]}"#], &[]).await;
        assert_eq!(
            status(read),
            StatusCode::UNPROCESSABLE_ENTITY,
            "and then judged"
        );
    }

    /// Over the limit is refused as soon as it is over: by its declared
    /// length before anything is read, or at the piece that passes it.
    #[actix_web::test]
    async fn a_body_over_the_limit_is_refused_as_too_large() {
        let big: &'static [u8] = Box::leak(vec![b' '; LIMIT_BYTES].into_boxed_slice());
        let read = body_of(vec![br#"{"key": "k", "payments": []}"#, big], &[]).await;
        assert_eq!(status(read), StatusCode::PAYLOAD_TOO_LARGE);
        let declared = [("content-length", (LIMIT_BYTES + 1).to_string())];
        let read = body_of(vec![br#"{"key": "k", "payments": []}"#], &declared).await;
        assert_eq!(status(read), StatusCode::PAYLOAD_TOO_LARGE);
        let spaces: &'static [u8] = Box::leak(vec![b' '; LIMIT_BYTES - 100].into_boxed_slice());
        let read = body_of(vec![spaces, br#"{"key": "k", "payments": []}"#], &[]).await;
        assert_eq!(status(read), StatusCode::OK, "at the limit: read");
    }
}
