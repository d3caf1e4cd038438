// Type-checked by tests/sdk/test_js_sdk.py (tsc --noEmit, as a consumer importing "videoapi-client"):
// the declarations type requests and answers, and refuse what the server would refuse.
import { ApiError, Client, verifyWebhook, type AssetOut, type TaskOut, type TrimRequest } from "videoapi-client";

const client = new Client({ baseUrl: "http://127.0.0.1:8000", apiKey: "vk_..." });

export async function typed(): Promise<void> {
  const asset: AssetOut = await client.upload(new Blob([]), { onProgress: (sent: number, total: number | null) => [sent, total] });
  const request: TrimRequest = { input: { asset_id: asset.id }, start_s: 0, end_s: 1 };
  const task: TaskOut = await client.edit.trim(request, { idempotencyKey: "order-1" });
  const done = await client.wait(task.id, { timeoutS: 10 });
  const code: string | undefined = done.error?.code;
  for await (const each of client.tasks.iterate({ status: "succeeded", pageSize: 10 })) each.id.toUpperCase();
  const estimate = await client.generate.estimate("text-to-video", { prompt: "a cat" });
  estimate.estimate_credits.toFixed();
  await client.generate.textToVideo({ prompt: "a cat" });
  (await verifyWebhook("whsec_...", new Headers(), "{}")).data.status.toString();
  const error: unknown = null;
  if (error instanceof ApiError) error.code.toUpperCase();
  void code;
}

export async function refused(): Promise<void> {
  // @ts-expect-error: `input` is required
  await client.edit.trim({ start_s: 0 });
  // @ts-expect-error: no such field
  await client.edit.trim({ input: { asset_id: "a" }, start_seconds: 1 });
  // @ts-expect-error: an enum value the server does not know
  await client.edit.transcode({ input: { asset_id: "a" }, format: "avi" });
  // @ts-expect-error: the estimate's request type follows the kind
  await client.edit.estimate("trim", { timeline: { tracks: [] } });
  // @ts-expect-error: no such edit kind
  await client.edit.estimate("explode", {});
  // @ts-expect-error: Python's snake_case is camelCase here
  await client.generate.text_to_video({ prompt: "a cat" });
}
