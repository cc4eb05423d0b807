/** What Movable Ink receives for a behavioural event (see spec/pipeline.md). */
export interface TrackPayload {
  type: 'track';
  event: string;
  user_id?: string;
  anonymous_id?: string;
  timestamp: number;
  message_id: string;
  properties?: Record<string, unknown>;
  user_properties?: Record<string, unknown>;
}

/** What Movable Ink receives for a user update. */
export interface IdentifyPayload {
  type: 'identify';
  user_id?: string;
  anonymous_id?: string;
  timestamp: number;
  message_id: string;
  traits?: Record<string, unknown>;
}

export type MovableInkPayload = TrackPayload | IdentifyPayload;
