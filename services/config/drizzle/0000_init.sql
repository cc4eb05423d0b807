CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "projects" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"api_key_hash" text NOT NULL,
	"api_key_sealed" text NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "projects_api_key_hash_unique" UNIQUE("api_key_hash")
);
--> statement-breakpoint
CREATE TABLE "sync_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"sync_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"type" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"changes" jsonb NOT NULL,
	CONSTRAINT "sync_history_type_check" CHECK ("sync_history"."type" in ('created', 'updated', 'enabled', 'disabled', 'deleted'))
);
--> statement-breakpoint
CREATE TABLE "syncs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"project_id" uuid NOT NULL,
	"name" text NOT NULL,
	"destination" text DEFAULT 'movable-ink' NOT NULL,
	"enabled" boolean DEFAULT false NOT NULL,
	"endpoint_url" text NOT NULL,
	"authorization_sealed" text NOT NULL,
	"authorization_hint" text NOT NULL,
	"send_events" boolean DEFAULT true NOT NULL,
	"event_filters" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"event_properties" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"send_users" boolean DEFAULT false NOT NULL,
	"user_properties" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"delivery" jsonb NOT NULL,
	"status_state" text DEFAULT 'healthy' NOT NULL,
	"status_last_error" text,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "syncs_status_state_check" CHECK ("syncs"."status_state" in ('healthy', 'retrying', 'failing'))
);
--> statement-breakpoint
ALTER TABLE "sync_history" ADD CONSTRAINT "sync_history_sync_id_syncs_id_fk" FOREIGN KEY ("sync_id") REFERENCES "public"."syncs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "syncs" ADD CONSTRAINT "syncs_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "sync_history_sync_id_version_unique" ON "sync_history" USING btree ("sync_id","version");--> statement-breakpoint
CREATE INDEX "syncs_project_id_idx" ON "syncs" USING btree ("project_id");