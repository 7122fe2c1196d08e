//! `send-message`: sends one recorded outbound message, once, in the interactive lane
//! (replies, links, payment news). `send-notice` does the same in the bulk lane, for
//! messages nobody is waiting for (an "access ended" notice after an expiry): a mass
//! expiry's ten thousand notices then spend only the budget above the interactive
//! reserve. A user who blocked the bot (403) is marked unreachable and the message is
//! not retried.

pub use crate::kinds::send_message::{SendMessage, SendNotice};
use crate::membership::messages::deliver;
use crate::queue::JobError;
use crate::runtime::{Job, JobContext};

impl Job for SendMessage {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        deliver(ctx, self.message_id).await
    }
}

impl Job for SendNotice {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        deliver(ctx, self.message_id).await
    }
}
