//! State shared by the HTTP handlers and the [`crate::Emulator`] handle.

use std::sync::{Mutex, MutexGuard};

use crate::EmulatorConfig;
use crate::faults::Faults;
use crate::lock;
use crate::middleware::Call;
use crate::state::{Event, State};
use crate::webhook_delivery::WebhookSender;

pub(crate) struct Shared {
    pub config: EmulatorConfig,
    /// `http(s)://127.0.0.1:PORT`, Harbor's ext_endpoint.
    pub base_url: String,
    pub state: Mutex<State>,
    pub calls: Mutex<Vec<Call>>,
    pub faults: Faults,
    pub webhooks: WebhookSender,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Hands events to the webhook sender; call only after the change succeeded.
    pub fn publish(&self, events: impl IntoIterator<Item = Event>, request_id: &str) {
        for event in events {
            let subscribers = self.state().subscribers(&event);
            self.webhooks.send(&event, &subscribers, request_id);
        }
    }
}
