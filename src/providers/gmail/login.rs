//! Interactive sign-in: the installed-app flow with PKCE (S256) and a
//! loopback redirect on 127.0.0.1.

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::GmailError;
use super::oauth::{
    OAuthParams, TokenSet, oauth_client, token_error, token_http_client, token_set_from_exchange,
};
use crate::clock::{Clock, SystemClock};

/// How long to wait for the browser to come back before giving up.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long to let the loopback server finish answering the browser.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Signs an account in. Prints the authorization URL on `out` (and, unless
/// `no_browser`, also tries to open it), waits for Google to redirect to the
/// loopback listener, then exchanges the code for tokens.
pub async fn login(
    params: OAuthParams,
    no_browser: bool,
    out: &mut (dyn Write + Send),
) -> Result<TokenSet, GmailError> {
    login_with_clock(params, no_browser, out, &SystemClock).await
}

/// [`login`] with an injected clock for the token expiry stamp.
pub async fn login_with_clock(
    params: OAuthParams,
    no_browser: bool,
    out: &mut (dyn Write + Send),
    clock: &dyn Clock,
) -> Result<TokenSet, GmailError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|err| GmailError::OAuth(format!("could not open a loopback port: {err}")))?;
    let port = listener
        .local_addr()
        .map_err(|err| GmailError::OAuth(format!("could not read the loopback port: {err}")))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}");
    let redirect = RedirectUrl::new(redirect_uri.clone())
        .map_err(|err| GmailError::OAuth(format!("bad redirect URI: {err}")))?;
    let client = oauth_client(&params).set_redirect_uri(redirect);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(params.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        // A refresh token is only issued when consent is actually shown.
        .add_extra_param("access_type", "offline")
        .add_extra_param("prompt", "consent")
        .url();

    let print = |out: &mut (dyn Write + Send), text: &str| {
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|err| GmailError::OAuth(format!("could not print the sign-in URL: {err}")))
    };
    print(
        out,
        "Open this URL in a browser to let outpost read and send your Gmail:",
    )?;
    print(out, auth_url.as_str())?;
    if !no_browser && !open_browser(auth_url.as_str()) {
        print(
            out,
            "(Could not start a browser; open the URL above yourself.)",
        )?;
    }
    print(
        out,
        &format!("Waiting for Google to redirect to {redirect_uri} ..."),
    )?;

    let code = wait_for_redirect(listener, state.secret().clone()).await?;

    let http = token_http_client()?;
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .map_err(|err| token_error(err, None))?;
    let tokens = token_set_from_exchange(&response, clock.now());
    check_granted_scopes(&params, &tokens)?;
    if tokens.refresh_token.is_none() {
        return Err(GmailError::OAuth(
            "Google did not issue a refresh token; revoke outpost's access in your Google account and log in again"
                .to_string(),
        ));
    }
    print(out, "Signed in.")?;
    Ok(tokens)
}

/// Users can untick scopes on Google's consent screen; fail early rather
/// than on the first API call.
fn check_granted_scopes(params: &OAuthParams, tokens: &TokenSet) -> Result<(), GmailError> {
    // Without a scope field the server granted what was asked.
    if tokens.scopes.is_empty() || tokens.has_scope("https://mail.google.com/") {
        return Ok(());
    }
    let missing: Vec<&str> = params
        .scopes
        .iter()
        .filter(|s| !tokens.has_scope(s))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(GmailError::OAuth(format!(
            "the permission(s) {} were not granted; log in again and tick every box",
            missing.join(", ")
        )))
    }
}

fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    tokio::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

enum RedirectOutcome {
    Code(String),
    Denied(String),
    StateMismatch,
}

struct LoopbackState {
    expected_state: String,
    outcome: mpsc::Sender<RedirectOutcome>,
}

async fn wait_for_redirect(
    listener: TcpListener,
    expected_state: String,
) -> Result<String, GmailError> {
    let (sender, mut receiver) = mpsc::channel(4);
    let state = Arc::new(LoopbackState {
        expected_state,
        outcome: sender,
    });
    let app = Router::new().fallback(handle_redirect).with_state(state);
    let stop = CancellationToken::new();
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );

    let outcome = tokio::time::timeout(LOGIN_TIMEOUT, receiver.recv()).await;
    // Let the browser get its page before the listener goes away.
    stop.cancel();
    let abort = server.abort_handle();
    if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
        abort.abort();
    }

    match outcome {
        Ok(Some(RedirectOutcome::Code(code))) => Ok(code),
        Ok(Some(RedirectOutcome::Denied(error))) => Err(GmailError::OAuth(format!(
            "Google did not grant access ({error})"
        ))),
        Ok(Some(RedirectOutcome::StateMismatch)) => Err(GmailError::OAuth(
            "the redirect carried the wrong state (possible forged request); try again".to_string(),
        )),
        Ok(None) => Err(GmailError::OAuth(
            "the loopback listener stopped unexpectedly".to_string(),
        )),
        Err(_) => Err(GmailError::OAuth(format!(
            "no answer from the browser within {} minutes",
            LOGIN_TIMEOUT.as_secs() / 60
        ))),
    }
}

async fn handle_redirect(
    State(state): State<Arc<LoopbackState>>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    let state_ok = query.get("state") == Some(&state.expected_state);
    let (outcome, status, message) = match (query.get("code"), query.get("error")) {
        (_, Some(error)) if state_ok => (
            RedirectOutcome::Denied(error.clone()),
            StatusCode::OK,
            format!(
                "Sign-in was not completed ({}). You can close this tab.",
                html_escape(error)
            ),
        ),
        (Some(code), None) if state_ok => (
            RedirectOutcome::Code(code.clone()),
            StatusCode::OK,
            "outpost is signed in. You can close this tab and return to the terminal.".to_string(),
        ),
        (Some(_), _) | (_, Some(_)) => (
            RedirectOutcome::StateMismatch,
            StatusCode::BAD_REQUEST,
            "This sign-in request does not match the one outpost started.".to_string(),
        ),
        // Browsers also ask for /favicon.ico and the like.
        (None, None) => return (StatusCode::NOT_FOUND, Html(page("Not found."))),
    };
    // A second redirect after the first has been handled finds a full or
    // closed channel; the first outcome stands.
    let _ = state.outcome.try_send(outcome);
    (status, Html(page(&message)))
}

fn page(message: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>outpost</title></head>\
         <body style=\"font-family: sans-serif; margin: 3em\"><p>{message}</p></body></html>"
    )
}

fn html_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::gmail::oauth::GMAIL_MODIFY_SCOPE;
    use secrecy::SecretString;

    fn tokens_with(scopes: &[&str]) -> TokenSet {
        TokenSet {
            access_token: SecretString::from("a"),
            refresh_token: None,
            expires_at: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn granted_scopes_are_checked() {
        let params = OAuthParams::google("id", SecretString::from("s"));
        assert!(check_granted_scopes(&params, &tokens_with(&[GMAIL_MODIFY_SCOPE])).is_ok());
        assert!(check_granted_scopes(&params, &tokens_with(&[])).is_ok());
        assert!(check_granted_scopes(&params, &tokens_with(&["https://mail.google.com/"])).is_ok());
        let err = check_granted_scopes(
            &params,
            &tokens_with(&["https://www.googleapis.com/auth/gmail.readonly"]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("gmail.modify"));
    }

    #[test]
    fn escapes_html() {
        assert_eq!(html_escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
