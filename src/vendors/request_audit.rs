//! The hook through which every object-changing request a client sends gets its own audit
//! line. The executor (or a create) runs the client call inside [`scoped`]; the HTTP layer
//! calls [`before_request`] right before each request that changes something (session calls
//! such as login and logout excepted). The first request of a call is covered by the line the
//! caller wrote; a request the client sends on its own (a DELETE re-sent after a re-login,
//! the single DELETEs after a refused bulk request) gets a new line first. If that line
//! cannot be written, the request is not sent.
//!
//! Lives below the vendors and knows nothing of the audit log: `ops` implements the trait.

use std::future::Future;
use std::sync::Arc;

/// Told about each object-changing request before it leaves the client.
pub trait RequestAudit: Send + Sync {
    /// `method` and `path` (no query string) of the request about to be sent. `Err(reason)`
    /// means the request must not be sent.
    fn before_request(&self, method: &str, path: &str) -> Result<(), String>;
}

tokio::task_local! {
    static HOOK: Arc<dyn RequestAudit>;
}

/// Run `f` with `hook` told about every object-changing request `f` sends.
pub async fn scoped<F: Future>(hook: Arc<dyn RequestAudit>, f: F) -> F::Output {
    HOOK.scope(hook, f).await
}

/// Called by the HTTP layer before an object-changing request. Outside a scope (a client
/// used directly, as in client tests) there is nothing to tell.
pub fn before_request(method: &str, path: &str) -> Result<(), String> {
    HOOK.try_with(|h| h.before_request(method, path))
        .unwrap_or(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<String>>);
    impl RequestAudit for Recorder {
        fn before_request(&self, method: &str, path: &str) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("{method} {path}"));
            if path.contains("refuse") {
                return Err("no line".into());
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_hook_sees_requests_inside_its_scope_only() {
        let rec = Arc::new(Recorder(Mutex::new(Vec::new())));
        assert_eq!(before_request("DELETE", "/outside"), Ok(()));
        let inside = scoped(rec.clone(), async {
            before_request("DELETE", "/a")?;
            tokio::task::yield_now().await;
            before_request("POST", "/refuse")
        })
        .await;
        assert_eq!(inside, Err("no line".to_string()));
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec!["DELETE /a".to_string(), "POST /refuse".to_string()]
        );
    }
}
