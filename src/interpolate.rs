//! `${NAME}` in configuration values: the one piece of text handling that the config file, the
//! handlers' settings and the alert webhooks share. A leaf module, so that each of them can use it
//! without importing another.

/// Replaces `${NAME}` with the variable's value; an unset variable or an unclosed `${` is an error.
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed \"${{\" in {text:?}"))?;
        let name = &after[..end];
        let value = env(name).ok_or_else(|| {
            format!("environment variable {name} is not set (referenced as \"${{{name}}}\")")
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
