//! Checkout: charge a held booking once and confirm it, whatever the network,
//! the client or the process does in between.
//!
//! Each `(buyer, Idempotency-Key)` names one payment attempt (UNIQUE in
//! PostgreSQL). The request that holds the attempt's lease talks to the
//! provider under a provider key derived from the attempt, so every retry of
//! the attempt — a double click, a retry after a lost answer, the recovery
//! worker after a crash — reaches the provider with the same key and the
//! provider charges at most once. A finished attempt stores its answer, which
//! later calls with the key replay verbatim.
//!
//! Checkout decides in types ([`Decision`], [`CheckoutError`]) and knows
//! nothing of HTTP: the answer recorded for a decision is rendered by the
//! [`Render`] function the HTTP layer hands in (`http::payments::answer`), so
//! a replay sends the very bytes the first call sent.

use std::sync::Arc;
use std::time::Duration;

use actors::model::{BookingId, BookingStatus, UserId};
use actors::ports::ConfirmOutcome;
use actors::registry::Registry;
use serde_json::Value;
use sqlx::PgPool;

use super::{Charge, ChargeError, ChargeStatus, PaymentGateway};
use crate::store::bookings::{self, BookingView, PaymentStatus};

mod cancel;
pub use cancel::CancelError;

/// The answer recorded with a finished attempt: the HTTP status and body the
/// [`Render`] function made of its [`Decision`], replayed verbatim for its key.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Renders a decision as the answer to record (the HTTP layer's format).
pub type Render = fn(&Decision) -> Answer;

/// How an attempt ended, decided by this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Charged, and the booking confirmed with the charge.
    Confirmed {
        booking_id: BookingId,
        confirmation_number: String,
    },
    /// Nothing was charged.
    NotCharged(NotCharged),
    /// The provider declined the card; the seats stay held.
    Declined,
    /// The provider reports the charge refunded already (a refund whose
    /// recording was lost): it confirms nothing.
    FoundRefunded,
    /// The charge bought nothing and was given back.
    Refunded(RefundReason),
}

/// Why an attempt ended without a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotCharged {
    /// The booking was paid for before this attempt began.
    AlreadyPaid,
    /// The hold had ended before this attempt began.
    HoldEnded,
    /// The provider refused the charge, for this reason.
    Refused(String),
    /// The provider never recorded a charge, and none can still land.
    NeverReachedProvider,
}

/// Why a charge that landed bought nothing and goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundReason {
    /// The hold ended and the seats were sold to someone else.
    SeatsGone,
    /// Another payment paid for the booking first.
    PaidByAnother,
    /// The booking was released before the payment completed.
    Released,
    /// The paid booking was cancelled (by an operator, or its buyer).
    Cancelled,
}

impl Decision {
    /// The attempt's final status for this decision.
    fn payment_status(&self) -> PaymentStatus {
        match self {
            Decision::Confirmed { .. } => PaymentStatus::Succeeded,
            Decision::NotCharged(_) | Decision::Declined => PaymentStatus::Failed,
            Decision::FoundRefunded | Decision::Refunded(_) => PaymentStatus::Refunded,
        }
    }

    /// The `outcome` label of `boxoffice_payments_total`.
    fn metric(&self) -> &'static str {
        match self {
            Decision::Confirmed { .. } => "succeeded",
            Decision::NotCharged(_) => "failed",
            Decision::Declined => "declined",
            Decision::FoundRefunded | Decision::Refunded(_) => "refunded",
        }
    }
}

/// Why a call ends without a recorded answer: the attempt stays open (or was
/// never begun) and a retry with the same key is safe.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Another attempt (another key) for this booking is still unresolved.
    #[error("another payment for this booking is still being resolved")]
    OtherAttemptInProgress,
    /// The buyer used this key for another booking.
    #[error("the idempotency key belongs to another booking")]
    KeyReused,
    /// Someone else (another request, the recovery worker) holds the attempt.
    #[error("a payment with this key is in progress")]
    InProgress,
    /// The provider has no record yet, but a charge request may still land.
    #[error("the payment provider has not recorded this payment yet")]
    NotYetRecorded,
    /// The provider did not answer in time: the outcome is unknown.
    #[error("the payment provider did not answer")]
    ProviderTimeout,
    /// A dependency failed mid-way (confirming, refunding); the attempt stays open.
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A state that should not exist.
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

/// Pays for held bookings and resolves abandoned attempts. Shared by every
/// request handler and the recovery worker (one per process, behind an `Arc`):
/// it holds no per-request state, only what every attempt needs.
pub struct Checkout {
    /// Attempts, their leases and recorded answers (`payments`), and the
    /// booking's `paying` mark.
    pool: PgPool,
    /// The payment provider, called only by the holder of an attempt's lease.
    gateway: Arc<dyn PaymentGateway>,
    /// Confirms a paid booking through its event actor, the only writer of seats.
    registry: Arc<Registry>,
    /// How long a request owns an attempt before another may take it over.
    lease: Duration,
    /// How long one provider call may take before its outcome counts as unknown.
    charge_timeout: Duration,
    /// How long an attempt sits unleased and unanswered before the recovery
    /// worker resumes it.
    recovery_after: Duration,
    /// How long after a charge request left it may still land at the
    /// provider: "no record" is final only after it.
    charge_window: Duration,
    /// Renders a decision as the answer recorded for the attempt's key.
    render: Render,
}

/// The attempt this call holds the lease of. Every write it makes to the
/// attempt is conditional on `lease`: a holder whose lease was taken over
/// writes nothing.
struct Held<'a> {
    payment_id: i64,
    lease: String,
    amount_cents: i64,
    booking: &'a BookingView,
}

impl RefundReason {
    /// For an attempt found mid-refund: why, from what became of its booking.
    fn from_booking(booking: &BookingView) -> RefundReason {
        match booking.status {
            BookingStatus::Confirmed => RefundReason::PaidByAnother,
            BookingStatus::Released => RefundReason::Released,
            BookingStatus::Refunded => RefundReason::Cancelled,
            BookingStatus::Pending | BookingStatus::Expired => RefundReason::SeatsGone,
        }
    }
}

impl Checkout {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pool: PgPool,
        gateway: Arc<dyn PaymentGateway>,
        registry: Arc<Registry>,
        lease: Duration,
        charge_timeout: Duration,
        recovery_after: Duration,
        charge_window: Duration,
        render: Render,
    ) -> Checkout {
        Checkout {
            pool,
            gateway,
            registry,
            lease,
            charge_timeout,
            recovery_after,
            charge_window,
            render,
        }
    }

    /// Pays for `booking` with `payment_token` under the buyer's `key`.
    #[tracing::instrument(skip_all, fields(booking.id = %booking.booking_id))]
    pub async fn confirm(
        &self,
        payer: UserId,
        booking: &BookingView,
        key: &str,
        payment_token: &str,
    ) -> Result<Answer, CheckoutError> {
        let attempt = bookings::begin_attempt(
            &self.pool,
            booking.booking_id,
            payer,
            key,
            booking.amount_cents,
            self.lease,
        )
        .await
        .map_err(|e| match e {
            bookings::BeginAttemptError::OtherInProgress => CheckoutError::OtherAttemptInProgress,
            bookings::BeginAttemptError::KeyReused => CheckoutError::KeyReused,
            bookings::BeginAttemptError::Database(e) => e.into(),
        })?;
        if let Some(answer) = attempt.answer {
            metrics::counter!("boxoffice_payments_total", "outcome" => "replayed").increment(1);
            return Ok(recorded(answer));
        }
        let Some(lease) = attempt.lease else {
            return Err(CheckoutError::InProgress);
        };
        let held = Held {
            payment_id: attempt.payment_id,
            lease,
            amount_cents: attempt.amount_cents,
            booking,
        };
        if attempt.fresh {
            if booking.status == BookingStatus::Confirmed {
                return self.fail(&held, NotCharged::AlreadyPaid).await;
            }
            if !bookings::mark_paying(&self.pool, booking.booking_id).await? {
                return self.fail(&held, NotCharged::HoldEnded).await;
            }
        }
        self.resume(
            &held,
            attempt.status,
            attempt.provider_ref.as_deref(),
            Some(payment_token),
            !attempt.fresh,
        )
        .await
    }

    /// Carries an unfinished attempt on from where it stands:
    /// PROCESSING charges (with a token) or asks the provider (without);
    /// REFUNDING refunds again under the same refund key and never confirms;
    /// SUCCEEDED (confirmed, answer not recorded) confirms again, idempotently.
    async fn resume(
        &self,
        held: &Held<'_>,
        status: PaymentStatus,
        provider_ref: Option<&str>,
        payment_token: Option<&str>,
        resumed: bool,
    ) -> Result<Answer, CheckoutError> {
        match (status, provider_ref) {
            (PaymentStatus::Refunding, Some(charge_id)) => {
                self.refund(held, charge_id, RefundReason::from_booking(held.booking))
                    .await
            }
            (PaymentStatus::Succeeded, _) => self.charge_and_confirm(held, None, true).await,
            (PaymentStatus::Processing, _) => {
                self.charge_and_confirm(held, payment_token, resumed).await
            }
            _ => Err(CheckoutError::Internal(anyhow::anyhow!(
                "payment {} is {status} without an answer",
                held.payment_id
            ))),
        }
    }

    async fn within_timeout<T>(
        &self,
        call: impl Future<Output = Result<T, ChargeError>>,
    ) -> Result<T, ChargeError> {
        tokio::time::timeout(self.charge_timeout, call)
            .await
            .unwrap_or(Err(ChargeError::Timeout))
    }

    /// Records a final answer that charged nothing (from PROCESSING only).
    async fn fail(&self, held: &Held<'_>, why: NotCharged) -> Result<Answer, CheckoutError> {
        self.finish(
            held,
            &[PaymentStatus::Processing],
            None,
            Decision::NotCharged(why),
        )
        .await
    }

    /// Records the attempt's final answer if this call still holds its lease
    /// (otherwise the answer of whoever took over stands), and lets the hold
    /// run out as it would have if it is still pending.
    async fn finish(
        &self,
        held: &Held<'_>,
        from: &[PaymentStatus],
        provider_ref: Option<&str>,
        decision: Decision,
    ) -> Result<Answer, CheckoutError> {
        let answer = (self.render)(&decision);
        let final_status = decision.payment_status();
        let finished = bookings::finish_attempt(
            &self.pool,
            held.payment_id,
            &held.lease,
            from,
            final_status,
            provider_ref,
            (i32::from(answer.status), &answer.body),
        )
        .await?;
        if !finished {
            return self.superseded(held).await;
        }
        if final_status != PaymentStatus::Succeeded {
            bookings::clear_paying(&self.pool, held.booking.booking_id).await?;
        }
        metrics::counter!("boxoffice_payments_total", "outcome" => decision.metric()).increment(1);
        Ok(answer)
    }

    /// This call lost the attempt's lease (it lapsed and someone took over)
    /// or the attempt moved on: answer what was recorded, if anything.
    async fn superseded(&self, held: &Held<'_>) -> Result<Answer, CheckoutError> {
        metrics::counter!("boxoffice_payments_total", "outcome" => "superseded").increment(1);
        tracing::warn!(
            payment.id = held.payment_id,
            "payment attempt taken over; this request writes nothing"
        );
        match bookings::attempt_answer(&self.pool, held.payment_id).await? {
            Some(answer) => Ok(recorded(answer)),
            None => Err(CheckoutError::InProgress),
        }
    }

    /// The outcome is unknown: keep the attempt open for a retry with the
    /// same key (or the recovery worker).
    async fn unknown_outcome(
        &self,
        held: &Held<'_>,
        provider_ref: Option<&str>,
        error: &dyn std::fmt::Display,
    ) -> Result<(), CheckoutError> {
        bookings::drop_lease(&self.pool, held.payment_id, &held.lease, provider_ref).await?;
        tracing::warn!(%error, payment.id = held.payment_id, "payment outcome unknown; the attempt stays open");
        Ok(())
    }

    /// With `payment_token`, charges (idempotently); without, only asks the
    /// provider what happened under the attempt's key (recovery). `resumed`:
    /// an earlier request may have sent a charge under this key.
    async fn charge_and_confirm(
        &self,
        held: &Held<'_>,
        payment_token: Option<&str>,
        resumed: bool,
    ) -> Result<Answer, CheckoutError> {
        let provider_key = format!("bo-pay-{}", held.payment_id);
        let asked = match payment_token {
            Some(token) => {
                let Some(earlier_may_land) = bookings::charge_sending(
                    &self.pool,
                    held.payment_id,
                    &held.lease,
                    self.charge_window,
                )
                .await?
                else {
                    return self.superseded(held).await;
                };
                let charged = self
                    .within_timeout(self.gateway.charge(&provider_key, held.amount_cents, token))
                    .await;
                match charged {
                    // The provider refused this request, but an earlier one
                    // under the key may have charged (or still may): ask.
                    Err(ChargeError::Invalid(reason)) if resumed => {
                        tracing::info!(%reason, "resumed payment refused; looking up its key");
                        match self
                            .within_timeout(self.gateway.lookup(&provider_key))
                            .await
                        {
                            Ok(None) if earlier_may_land => return self.still_pending(held).await,
                            Ok(None) => {
                                return self.fail(held, NotCharged::Refused(reason)).await;
                            }
                            other => other,
                        }
                    }
                    other => other.map(Some),
                }
            }
            None => {
                self.within_timeout(self.gateway.lookup(&provider_key))
                    .await
            }
        };
        let charge = match asked {
            Ok(Some(charge)) => charge,
            Ok(None) => return self.no_record(held).await,
            Err(ChargeError::Invalid(reason)) => {
                // A fresh attempt: nothing else was ever sent under this key.
                return self.fail(held, NotCharged::Refused(reason)).await;
            }
            Err(error @ (ChargeError::Timeout | ChargeError::Unavailable(_))) => {
                self.unknown_outcome(held, None, &error).await?;
                metrics::counter!("boxoffice_payments_total", "outcome" => "timeout").increment(1);
                return Err(CheckoutError::ProviderTimeout);
            }
        };
        self.settle(held, charge).await
    }

    /// The provider has no charge under the attempt's key. That is final only
    /// once no request sent under it can still land (`charge_window` after the
    /// last one left); before, the attempt stays open and is asked again.
    async fn no_record(&self, held: &Held<'_>) -> Result<Answer, CheckoutError> {
        if bookings::charge_may_still_land(&self.pool, held.payment_id, self.charge_window).await? {
            return self.still_pending(held).await;
        }
        self.fail(held, NotCharged::NeverReachedProvider).await
    }

    /// No record yet, but a charge request may still land: the attempt stays
    /// open (lease released) for the next retry or recovery pass.
    async fn still_pending(&self, held: &Held<'_>) -> Result<Answer, CheckoutError> {
        self.unknown_outcome(held, None, &"the provider has no record yet")
            .await?;
        metrics::counter!("boxoffice_payments_total", "outcome" => "pending").increment(1);
        Err(CheckoutError::NotYetRecorded)
    }

    /// Acts on the provider's charge: confirms the booking with it, or gives
    /// it back when it bought nothing.
    async fn settle(&self, held: &Held<'_>, charge: Charge) -> Result<Answer, CheckoutError> {
        let booking = held.booking;
        match charge.status {
            ChargeStatus::Declined => {
                return self
                    .finish(
                        held,
                        &[PaymentStatus::Processing],
                        Some(&charge.charge_id),
                        Decision::Declined,
                    )
                    .await;
            }
            ChargeStatus::Refunded => {
                // Refunded already (a refund whose recording was lost): the
                // money is back, so this charge can never confirm anything.
                tracing::warn!(
                    payment.id = held.payment_id,
                    "charge found refunded; not confirming"
                );
                return self
                    .finish(
                        held,
                        &[PaymentStatus::Processing, PaymentStatus::Refunding],
                        Some(&charge.charge_id),
                        Decision::FoundRefunded,
                    )
                    .await;
            }
            ChargeStatus::Succeeded => {}
        }
        let confirmed = self
            .registry
            .confirm(booking.event_id, booking.booking_id, held.payment_id)
            .await;
        let reason = match confirmed {
            Ok(ConfirmOutcome::Confirmed {
                confirmation_number,
            }) => {
                let decision = Decision::Confirmed {
                    booking_id: booking.booking_id,
                    confirmation_number,
                };
                let answer = self
                    .finish(
                        held,
                        &[PaymentStatus::Succeeded],
                        Some(&charge.charge_id),
                        decision,
                    )
                    .await?;
                tracing::info!("booking confirmed");
                return Ok(answer);
            }
            Ok(ConfirmOutcome::SeatsGone) => RefundReason::SeatsGone,
            Ok(ConfirmOutcome::PaidByAnother) => RefundReason::PaidByAnother,
            Ok(ConfirmOutcome::Released) => RefundReason::Released,
            // Another holder of this attempt decided its refund.
            Ok(ConfirmOutcome::AttemptClosed) => return self.superseded(held).await,
            Ok(ConfirmOutcome::NotFound) => {
                return Err(CheckoutError::Internal(anyhow::anyhow!(
                    "paid booking vanished"
                )));
            }
            Err(error) => {
                self.unknown_outcome(held, Some(&charge.charge_id), &error)
                    .await?;
                return Err(CheckoutError::Unavailable(anyhow::anyhow!(
                    "confirming after payment: {error}"
                )));
            }
        };
        // This charge bought nothing: record the intent, then give it back.
        if !bookings::begin_refund(&self.pool, held.payment_id, &held.lease, &charge.charge_id)
            .await?
        {
            return self.superseded(held).await;
        }
        self.refund(held, &charge.charge_id, reason).await
    }

    /// Refunds a REFUNDING attempt's charge under the attempt's refund key
    /// (idempotent: a repeat after a crash refunds nothing more) and records it.
    async fn refund(
        &self,
        held: &Held<'_>,
        charge_id: &str,
        reason: RefundReason,
    ) -> Result<Answer, CheckoutError> {
        let refund_key = format!("bo-refund-{}", held.payment_id);
        if let Err(error) = self
            .within_timeout(self.gateway.refund(&refund_key, charge_id))
            .await
        {
            // Still REFUNDING: the next call with the key, or recovery, refunds again.
            self.unknown_outcome(held, Some(charge_id), &error).await?;
            return Err(CheckoutError::Unavailable(anyhow::anyhow!(
                "refund failed: {error}"
            )));
        }
        tracing::warn!(?reason, "charge refunded");
        self.finish(
            held,
            &[PaymentStatus::Refunding],
            Some(charge_id),
            Decision::Refunded(reason),
        )
        .await
    }

    /// Resolves attempts abandoned mid-flight (crash, a lost answer never
    /// retried, a refund not recorded) by asking the provider under the
    /// attempt's key. Safe on every node: each attempt is resumed only by
    /// whoever takes its lease.
    pub async fn recover_abandoned(&self) -> usize {
        let abandoned = match bookings::abandoned_attempts(&self.pool, self.recovery_after).await {
            Ok(abandoned) => abandoned,
            Err(error) => {
                tracing::warn!(%error, "payment recovery could not look for abandoned attempts");
                return 0;
            }
        };
        let mut resolved = 0;
        for (payment_id, booking_id, _user, amount_cents) in abandoned {
            let Ok(Some(taken)) = bookings::take_lease(&self.pool, payment_id, self.lease).await
            else {
                continue;
            };
            let Ok(Some(booking)) = bookings::get(&self.pool, booking_id).await else {
                continue;
            };
            let held = Held {
                payment_id,
                lease: taken.lease,
                amount_cents,
                booking: &booking,
            };
            match self
                .resume(
                    &held,
                    taken.status,
                    taken.provider_ref.as_deref(),
                    None,
                    true,
                )
                .await
            {
                Ok(answer) => {
                    resolved += 1;
                    tracing::info!(
                        payment.id = payment_id,
                        status = answer.status,
                        "abandoned payment resolved"
                    );
                }
                Err(error) => {
                    tracing::warn!(payment.id = payment_id, %error, "abandoned payment still unresolved")
                }
            }
        }
        resolved
    }
}

/// An answer read back from the attempt.
fn recorded((status, body): (i32, Value)) -> Answer {
    Answer {
        status: u16::try_from(status).unwrap_or(200),
        body,
    }
}
