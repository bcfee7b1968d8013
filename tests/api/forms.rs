//! What the hub's pages and responses carry that a client reads back: a
//! form's input values, the session cookie. Shared by the tests and the
//! load generators (`load-tests/common.rs` includes this file).

/// The `cajahub_session=…` cookie a response sets, if any.
pub fn cookie_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cajahub_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// The value of the form input `name` in a page.
pub fn input_value<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    Some(&html[start..start + html[start..].find('"')?])
}
