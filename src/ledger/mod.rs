//! The ledger: accounts, postings, lots, receipts and a member's state.

mod bonus;
mod lot;
mod outcome;
mod posting;
mod receipt;
mod reward;
mod state;
mod tier;

pub use bonus::BonusCount;
pub use lot::{Bucket, Lot, LotId};
pub use outcome::{Coverage, Enrollment, Membership, Notice, Outcome, TierChangeReason};
pub use posting::{Account, AccountParseError, Asset, AssetParseError, Posting, PostingId};
pub use receipt::{Earning, LinePayment, PaidWith, Payment, Receipt, ReceiptLine, StampEarning};
pub use reward::{Reward, RewardStatus};
pub use state::{CashbackBalance, MemberState, PointsBalance};
pub(crate) use state::{Creditors, move_lot};
pub use tier::{Contribution, PendingDowngrade, TierRun, TierState};
