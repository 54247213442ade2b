//! A handler that panics fails its item like one that returns an error:
//! the item is retried with backoff and, in the end, becomes a dead letter,
//! instead of taking the engine (or a delivery task) down with it.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `future` to its end; a panic inside it becomes `Err` with the
/// panic's message.
pub async fn caught<F: Future>(future: F) -> Result<F::Output, String> {
    CatchUnwind(Box::pin(future)).await.map_err(|payload| format!("panicked: {}", message(payload.as_ref())))
}

struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The future is dropped right after a panic and never polled again,
        // so no broken state is observed.
        let future = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_with_its_message() {
        assert_eq!(caught(async { 7 }).await, Ok(7));
        let n = 3;
        let failed = caught(async move {
            tokio::task::yield_now().await;
            if n == 3 {
                panic!("payload {n} unreadable");
            }
            1
        })
        .await;
        assert_eq!(failed, Err("panicked: payload 3 unreadable".to_string()));
    }
}
