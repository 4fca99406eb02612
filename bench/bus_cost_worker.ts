/**
 * @module One isolate of `bench/bus_cost.ts`: joins the BroadcastChannel bus
 * and, if told to publish, publishes `perTick` events every millisecond for
 * `seconds`; then reports how many events it received and how many data
 * frames it posted. Messages in: `{ publish, perTick, seconds, channel }`;
 * out: `{ ready: true }`, then `{ got, frames }`.
 */
import { BroadcastChannelBus } from "../engines/memory/broadcast_channel_bus.ts";

interface Start {
  publish: boolean;
  perTick: number;
  seconds: number;
  channel: string;
}

const scope = self as unknown as Worker;
scope.onmessage = async (message: MessageEvent<Start>) => {
  const { publish, perTick, seconds, channel } = message.data;
  const bus = new BroadcastChannelBus({ channel });
  let got = 0;
  bus.subscribe(() => got++);
  // Past the join wait, and the peers have heard each other.
  await new Promise((resolve) => setTimeout(resolve, 300));
  scope.postMessage({ ready: true });
  const data = JSON.stringify({ message: "a chat message of a usual size" });
  const end = Date.now() + seconds * 1000;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() > end) {
        clearInterval(timer);
        resolve();
        return;
      }
      if (!publish) return;
      for (let i = 0; i < perTick; i++) {
        bus.publish({ topic: "chat", event: "chat", data });
      }
    }, 1);
  });
  // Let the last frames and acknowledgements land.
  await new Promise((resolve) => setTimeout(resolve, 500));
  scope.postMessage({ got, frames: bus.delivery.framesSent });
  await bus.close();
  self.close();
};
