/** A batch of `count` events of about 500 bytes each, from `users` different users. */
export function eventBatch(count: number, users: number, offset: number, runId: string): object[] {
  const events: object[] = [];
  for (let i = 0; i < count; i++) {
    const n = offset + i;
    events.push({
      user_id: `bench-user-${n % users}`,
      device_id: `bench-device-${n % users}-7f3a9c2e`,
      event_type: n % 5 === 0 ? 'Order Completed' : 'Product Viewed',
      time: Date.now(),
      insert_id: `${runId}-${n}`,
      platform: 'Web',
      os_name: 'Chrome',
      country: 'United States',
      event_properties: {
        product_id: `sku-${n % 997}`,
        price: 10 + (n % 90) + 0.99,
        categories: ['shoes', 'sale'],
        name: 'Lightweight running shoe with breathable mesh',
        url: `https://shop.example.com/p/sku-${n % 997}`,
      },
      user_properties: { $set: { plan: n % 3 === 0 ? 'pro' : 'free', email: `user${n % users}@example.com` } },
    });
  }
  return events;
}

export function requestBody(apiKey: string, events: object[]): string {
  return JSON.stringify({ api_key: apiKey, events, client_upload_time: new Date().toISOString() });
}
