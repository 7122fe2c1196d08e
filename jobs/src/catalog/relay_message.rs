//! `relay-message`: one copy of the support relay (a subscriber's message to a staff
//! member under its header, or a staff member's reply back), in
//! [`crate::conversation::support`].

use crate::conversation::support;
pub use crate::kinds::relay_message::RelayMessage;
use crate::queue::JobError;
use crate::runtime::{Job, JobContext};

impl Job for RelayMessage {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        support::relay(ctx, &self).await
    }
}
