//! The common shape of a Chilean DTE provider's HTTP API, where issuing
//! is queueing ("emitir = encolar"):
//!
//! - `POST {base}/documentos` with the document as JSON, its
//!   `Idempotency-Key` header and the API key as a bearer token: the
//!   provider answers the document's state, and the same key sent again
//!   gets the same document, never a second one;
//! - `GET {base}/documentos/{key}`: a queued document's state, until the
//!   SII decides.
//!
//! A state is `{"idempotency_key", "estado": "ACEPTADO" | "EN_PROCESO" |
//! "RECHAZADO", "folio", "url", "track_id", "motivo"}`. A 429 or a 5xx is
//! the provider being unavailable (sent again later); an answer that does
//! not read, or that names another key, is not believed (asked again).

use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

use super::document::Document;
use super::provider::{Answer, ProviderError};

/// The longest a provider's answer may be.
const ANSWER_LIMIT: usize = 64 * 1024;
/// The longest reason kept of a rejection.
const REASON_MAX: usize = 500;

#[derive(Clone)]
pub struct Http {
    base: String,
    api_key: Option<String>,
    timeout: Duration,
}

/// A document's state, as the provider says it.
#[derive(Deserialize)]
struct State {
    idempotency_key: Uuid,
    estado: String,
    #[serde(default)]
    folio: Option<i64>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    track_id: Option<String>,
    #[serde(default)]
    motivo: Option<String>,
}

impl Http {
    pub fn new(base: &str, api_key: Option<String>, timeout: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            api_key,
            timeout,
        }
    }

    fn client(&self) -> awc::Client {
        awc::Client::builder().timeout(self.timeout).finish()
    }

    fn authorized(&self, request: awc::ClientRequest) -> awc::ClientRequest {
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Issues `document` (or learns what became of it, if its key was sent).
    pub async fn send(&self, document: &Document) -> Result<Answer, ProviderError> {
        let key = document.idempotency_key;
        let request = self
            .client()
            .post(format!("{}/documentos", self.base))
            .insert_header(("Idempotency-Key", key.to_string()));
        answered(self.authorized(request).send_json(document), key).await
    }

    /// What became of a queued document.
    pub async fn poll(&self, document: &Document) -> Result<Answer, ProviderError> {
        let key = document.idempotency_key;
        let request = self.client().get(format!("{}/documentos/{key}", self.base));
        answered(self.authorized(request).send(), key).await
    }
}

/// The provider's answer to `sent`, about the document under `key`.
async fn answered(sent: awc::SendClientRequest, key: Uuid) -> Result<Answer, ProviderError> {
    let mut response = sent
        .await
        .map_err(|err| ProviderError::Unavailable(err.to_string()))?;
    let body = response
        .body()
        .limit(ANSWER_LIMIT)
        .await
        .map_err(|err| ProviderError::Malformed(err.to_string()))?;
    read(response.status().as_u16(), &body, key)
}

/// The answer `status` and `body` give of the document under `key`.
fn read(status: u16, body: &[u8], key: Uuid) -> Result<Answer, ProviderError> {
    match status {
        429 => return Err(ProviderError::Unavailable("pidió esperar (429)".into())),
        401 | 403 => {
            return Err(ProviderError::Unavailable(format!(
                "rechazó la clave de la API ({status}): revisar CAJAHUB_DTE_API_KEY"
            )));
        }
        s if s >= 500 => return Err(ProviderError::Unavailable(format!("falló ({status})"))),
        200..=299 | 400 | 409 | 422 => {}
        other => return Err(ProviderError::Malformed(format!("respondió {other}"))),
    }
    let (said, answer) = state_of(body)
        .map_err(|err| ProviderError::Malformed(format!("respuesta {status}: {err}")))?;
    if said != key {
        return Err(ProviderError::Malformed(format!(
            "la respuesta es de otro documento ({said})"
        )));
    }
    Ok(answer)
}

/// A document's state as the provider tells it (in an answer, or by its
/// webhook): the key it is about, and what it says.
pub fn state_of(body: &[u8]) -> Result<(Uuid, Answer), ProviderError> {
    let state: State = serde_json::from_slice(body)
        .map_err(|err| ProviderError::Malformed(format!("ilegible: {err}")))?;
    let missing = |what: &str| ProviderError::Malformed(format!("{} sin {what}", state.estado));
    let answer = match state.estado.as_str() {
        "ACEPTADO" => Answer::Accepted {
            folio: state
                .folio
                .filter(|f| *f > 0)
                .ok_or_else(|| missing("folio"))?,
            link: state
                .url
                .clone()
                .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
                .ok_or_else(|| missing("url"))?,
        },
        "EN_PROCESO" => Answer::Queued {
            track_id: state
                .track_id
                .clone()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| missing("track_id"))?,
        },
        "RECHAZADO" => Answer::Rejected {
            reason: state
                .motivo
                .as_deref()
                .map(|reason| {
                    reason
                        .chars()
                        .filter(|c| !crate::text::is_invisible(*c))
                        .take(REASON_MAX)
                        .collect::<String>()
                })
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| missing("motivo"))?,
        },
        other => {
            return Err(ProviderError::Malformed(format!(
                "estado desconocido «{other}»"
            )));
        }
    };
    Ok((state.idempotency_key, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Uuid {
        Uuid::from_u128(7)
    }

    fn body(json: serde_json::Value) -> Vec<u8> {
        json.to_string().into_bytes()
    }

    #[test]
    fn each_state_reads_and_a_bad_answer_is_not_believed() {
        let k = key().to_string();
        assert_eq!(
            read(
                201,
                &body(
                    serde_json::json!({"idempotency_key": k, "estado": "ACEPTADO", "folio": 9, "url": "https://p.cl/9"})
                ),
                key()
            ),
            Ok(Answer::Accepted {
                folio: 9,
                link: "https://p.cl/9".into()
            })
        );
        assert_eq!(
            read(
                202,
                &body(
                    serde_json::json!({"idempotency_key": k, "estado": "EN_PROCESO", "track_id": "T1"})
                ),
                key()
            ),
            Ok(Answer::Queued {
                track_id: "T1".into()
            })
        );
        assert_eq!(
            read(
                422,
                &body(
                    serde_json::json!({"idempotency_key": k, "estado": "RECHAZADO", "motivo": "RUT\u{202E} inválido"})
                ),
                key()
            ),
            Ok(Answer::Rejected {
                reason: "RUT inválido".into()
            })
        );
        for (status, answer) in [
            (429, b"".to_vec()),
            (500, b"oops".to_vec()),
            (503, b"".to_vec()),
            (401, b"".to_vec()),
        ] {
            assert!(
                matches!(
                    read(status, &answer, key()),
                    Err(ProviderError::Unavailable(_))
                ),
                "{status}"
            );
        }
        for answer in [
            b"<html>".to_vec(),
            body(
                serde_json::json!({"idempotency_key": Uuid::from_u128(8).to_string(), "estado": "ACEPTADO", "folio": 1, "url": "https://x"}),
            ),
            body(
                serde_json::json!({"idempotency_key": k, "estado": "ACEPTADO", "url": "https://x"}),
            ),
            body(
                serde_json::json!({"idempotency_key": k, "estado": "ACEPTADO", "folio": 3, "url": "javascript:alert(1)"}),
            ),
            body(serde_json::json!({"idempotency_key": k, "estado": "TAL VEZ"})),
        ] {
            assert!(matches!(
                read(200, &answer, key()),
                Err(ProviderError::Malformed(_))
            ));
        }
    }
}
