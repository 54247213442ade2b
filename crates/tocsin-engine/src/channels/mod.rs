//! Placeholder with the delivery interface; replaced by the real adapters.

pub enum Outcome {
    Delivered,
    Retry { reason: String, retry_after: Option<chrono::Duration> },
    Permanent { reason: String },
}

#[derive(Debug)]
pub struct ChannelError;

pub struct Channels;

impl Channels {
    pub fn new(_smtp: Option<tocsin_core::model::Smtp>, _timeout: std::time::Duration) -> Result<Self, ChannelError> {
        Ok(Self)
    }
    pub async fn webhook(&self, _u: &str, _b: &serde_json::Value, _k: &str, _s: &[u8], _n: i64) -> Outcome {
        Outcome::Permanent { reason: String::new() }
    }
    pub async fn slack(&self, _u: &str, _b: &serde_json::Value, _k: &str) -> Outcome {
        Outcome::Permanent { reason: String::new() }
    }
    pub async fn email(&self, _t: &str, _e: &tocsin_core::notify::render::Email, _k: &str) -> Outcome {
        Outcome::Permanent { reason: String::new() }
    }
}
