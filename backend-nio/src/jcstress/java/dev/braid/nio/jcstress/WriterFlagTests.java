package dev.braid.nio.jcstress;

import dev.braid.internal.backend.OutboundWriter;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.I_Result;

import java.util.concurrent.atomic.AtomicInteger;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * The nio backend's writer flag (the {@code writing} handshake that was in {@code NioConnection}, now core's
 * {@link OutboundWriter}, shared with epoll and loom): the loop's flush and a thread writing through, at the
 * same time. Run with {@code scripts/jcstress-nio} (see backend-nio's pom, profile {@code jcstress}).
 */
public final class WriterFlagTests {
    private WriterFlagTests() {
    }

    /**
     * No flush request is lost: a producer offers a frame and asks for a flush while the loop flushes. If the
     * producer finds the flag taken (BUSY), the holder must see its request ({@code flushWanted}) after giving
     * the flag back and write the frame. At the end the frame is written exactly once, and no two
     * writer-context calls overlapped.
     */
    @JCStressTest
    @Description("A frame offered while another thread holds the writer flag is written by the holder")
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the frame was written once; writer calls never overlapped")
    @Outcome(id = "0, .*", expect = FORBIDDEN, desc = "a flush request was lost: the frame is stranded")
    @Outcome(expect = FORBIDDEN, desc = "written twice, or two writer-context calls at once")
    @State
    public static class NoLostFlush {
        final FakeEngine engine = new FakeEngine();
        final FakeEngine.Socket socket = new FakeEngine.Socket(engine, new AtomicInteger());

        public NoLostFlush() {
            engine.offer(32); // the loop has something of its own to write, so it holds the flag for a while
        }

        @Actor
        public void loop() {
            socket.loopFlush();
        }

        @Actor
        public void producer() {
            engine.offer(64);
            socket.writeThrough();
        }

        @Arbiter
        public void arbiter(final II_Result r) {
            r.r1 = socket.framesWritten - 1; // the loop's own frame is always written
            r.r2 = engine.overlaps.get();
        }
    }

    /** Two threads writing through at once, and the loop: still one writer at a time, nothing lost. */
    @JCStressTest
    @Description("Three writers race for the flag: each frame is written once, writer calls never overlap")
    @Outcome(id = "3, 0", expect = ACCEPTABLE, desc = "all three frames written once, no overlap")
    @Outcome(expect = FORBIDDEN, desc = "a frame stranded or written twice, or writer calls overlapped")
    @State
    public static class ThreeWriters {
        final FakeEngine engine = new FakeEngine();
        final FakeEngine.Socket socket = new FakeEngine.Socket(engine, new AtomicInteger());

        @Actor
        public void loop() {
            engine.offer(16);
            socket.loopFlush();
        }

        @Actor
        public void caller1() {
            engine.offer(32);
            socket.writeThrough();
        }

        @Actor
        public void caller2() {
            engine.offer(64);
            socket.writeThrough();
        }

        @Arbiter
        public void arbiter(final II_Result r) {
            r.r1 = socket.framesWritten;
            r.r2 = engine.overlaps.get();
        }
    }

    /**
     * The fence: once {@link OutboundWriter#closeThrough()} returned, no thread writes through any more (the
     * descriptor may be closed right after). A write-through racing the fence either finished before it
     * returned, or was refused; it never writes after.
     */
    @JCStressTest
    @Description("No write-through writes after closeThrough() returned")
    @Outcome(id = "0", expect = ACCEPTABLE, desc = "every write came before the fence returned (or none)")
    @Outcome(id = "1", expect = FORBIDDEN, desc = "a thread wrote through after the fence")
    @State
    public static class FenceHolds {
        final FakeEngine engine = new FakeEngine();
        final AtomicInteger tickets = new AtomicInteger();
        final FakeEngine.Socket socket = new FakeEngine.Socket(engine, tickets);
        volatile int fenceTicket;

        public FenceHolds() {
            engine.offer(64);
        }

        @Actor
        public void caller() {
            socket.writeThrough();
        }

        @Actor
        public void fence() {
            socket.closeThrough();
            fenceTicket = tickets.incrementAndGet();
        }

        @Arbiter
        public void arbiter(final I_Result r) {
            final int w = socket.lastWriteTicket;
            r.r1 = w != 0 && w > fenceTicket ? 1 : 0;
        }
    }
}
