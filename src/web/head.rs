//! HEAD is GET without its body (RFC 9110, 9.3.2): load balancers and
//! uptime checkers probe the hub with it, and every GET route answers it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() != Method::HEAD {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    req.head_mut().method = Method::GET;
    let answered = next.call(req).await?;
    Ok(answered.map_body(|_, _| ()).map_into_right_body())
}
