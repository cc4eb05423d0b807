CREATE TABLE "delivery_errors" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"sync_id" uuid NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"result" text NOT NULL,
	"status" integer,
	"error" text NOT NULL,
	"response_body" text NOT NULL,
	"request_id" text,
	"attempt" integer NOT NULL,
	"payload_type" text NOT NULL,
	"message_id" text NOT NULL,
	"trace_id" text
);
--> statement-breakpoint
CREATE TABLE "delivery_latency" (
	"sync_id" uuid NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"bucket" smallint NOT NULL,
	"count" integer NOT NULL,
	CONSTRAINT "delivery_latency_sync_id_minute_bucket_pk" PRIMARY KEY("sync_id","minute","bucket")
);
--> statement-breakpoint
CREATE TABLE "delivery_minutes" (
	"sync_id" uuid NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"delivered" integer DEFAULT 0 NOT NULL,
	"delivered_first_attempt" integer DEFAULT 0 NOT NULL,
	"delivered_after_retry" integer DEFAULT 0 NOT NULL,
	"expired" integer DEFAULT 0 NOT NULL,
	"discarded" integer DEFAULT 0 NOT NULL,
	"rejected" integer DEFAULT 0 NOT NULL,
	"dropped" integer DEFAULT 0 NOT NULL,
	"retried" integer DEFAULT 0 NOT NULL,
	"throttled" integer DEFAULT 0 NOT NULL,
	"failing" integer DEFAULT 0 NOT NULL,
	"attempts_2xx" integer DEFAULT 0 NOT NULL,
	"attempts_3xx" integer DEFAULT 0 NOT NULL,
	"attempts_4xx" integer DEFAULT 0 NOT NULL,
	"attempts_429" integer DEFAULT 0 NOT NULL,
	"attempts_5xx" integer DEFAULT 0 NOT NULL,
	"attempts_error" integer DEFAULT 0 NOT NULL,
	"latency_max_ms" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "delivery_minutes_sync_id_minute_pk" PRIMARY KEY("sync_id","minute")
);
--> statement-breakpoint
CREATE TABLE "delivery_pending_retries" (
	"sync_id" uuid NOT NULL,
	"message_id" text NOT NULL,
	"payload_type" text NOT NULL,
	"result" text NOT NULL,
	"attempt" integer NOT NULL,
	"status" integer,
	"first_failed_at" timestamp with time zone NOT NULL,
	"last_at" timestamp with time zone NOT NULL,
	CONSTRAINT "delivery_pending_retries_sync_id_message_id_pk" PRIMARY KEY("sync_id","message_id")
);
--> statement-breakpoint
CREATE TABLE "outcome_checkpoints" (
	"consumer" text PRIMARY KEY NOT NULL,
	"last_seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "syncs" ADD COLUMN "status_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "delivery_errors_sync_at_idx" ON "delivery_errors" USING btree ("sync_id","at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "delivery_latency_minute_idx" ON "delivery_latency" USING btree ("minute");--> statement-breakpoint
CREATE INDEX "delivery_minutes_minute_idx" ON "delivery_minutes" USING btree ("minute");