//! The corpus: realistic workflows, one per file, each compiled standalone as a trybuild pass case
//! (`tests/ui/pass/`) and run by `corpus_difftest.rs` and `corpus_proptest.rs`.

pub mod account_import;
pub mod auction_close;
pub mod bank_transfer;
pub mod chargeback_dispute;
pub mod contract_signing;
pub mod courier_race;
pub mod currency_conversion;
pub mod customer_onboarding;
pub mod deployment_plan;
pub mod document_pipeline;
pub mod dunning_reminders;
pub mod email_campaign;
pub mod escalation_chain;
pub mod expense_approval;
pub mod fraud_review;
pub mod inventory_restock;
pub mod invoice_batch;
pub mod job_polling;
pub mod kyc_sampling;
pub mod loan_decision;
pub mod message_batcher;
pub mod newsletter_fanout;
pub mod order_saga;
pub mod paginated_export;
pub mod payment_deadline;
pub mod pricing_defaults;
pub mod quorum_vote;
pub mod shipment_manifest;
pub mod shipping_quote;
pub mod subscription_billing;
pub mod supplier_search;
pub mod support_routing;
pub mod trip_booking;
pub mod warehouse_picking;
pub mod warranty_claim;
