package dev.braid.jcstress;

import dev.braid.buffer.BufferPool;
import dev.braid.internal.engine.stream.OpenPacketHarness;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * A stream's open packet (whole packets: a write's remainder stays open for the next write to fill) handed
 * over between the writing thread and the connection's writer (the scheduler), through core's
 * {@code OpenPacketHarness} (64-byte packets, the real {@code StreamSender} and {@code StreamScheduler}).
 * Its contract (StreamSender's javadoc, "The open packet"): every packet the scheduler sends has its header
 * written exactly once and holds the stream's next bytes, whoever sealed it.
 */
public final class OpenPacketTests {
    private static final BufferPool POOL = new BufferPool();
    private static final int FIRST = 10;
    private static final int FILL = OpenPacketHarness.MAX_PACKET - FIRST;
    private static final int REST = 5;

    private OpenPacketTests() {
    }

    @JCStressTest
    @Description("An open packet of 10 bytes at the ring's head. The writer's next write fills it (header "
            + "written, sealed) and queues its 5-byte remainder as the new open packet, while the scheduler "
            + "reaches the first one and seals it. Then everything is sent.")
    @Outcome(id = "0, 69", expect = ACCEPTABLE, desc = "every packet whole, all 69 bytes in order")
    @Outcome(expect = FORBIDDEN, desc = "a packet sent malformed (a header written twice or never: the "
            + "scheduler sealed the packet the writer had just queued, while holding the one before it) or "
            + "bytes lost or out of order")
    @State
    public static class SealRacesFillAndNextRemainder {
        final OpenPacketHarness h = new OpenPacketHarness(POOL);

        public SealRacesFillAndNextRemainder() {
            h.write(OpenPacketHarness.MAX_PACKET + FIRST); // a full packet, then 10 bytes left open
            h.dropHead(); // the full packet: the open one is now at the head, not sealed
        }

        @Actor
        public void writingThread() {
            h.write(FILL + REST);
        }

        @Actor
        public void connectionWriter() {
            h.pumpOnce();
        }

        @Arbiter
        public void arbiter(final II_Result r) {
            h.drain(OpenPacketHarness.MAX_PACKET + FIRST + FILL + REST);
            r.r1 = h.problems();
            r.r2 = (int) (h.received() - OpenPacketHarness.MAX_PACKET);
            h.close();
        }
    }
}
