package dev.braid.internal.engine.stream;

import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.Frames;

import java.util.ArrayDeque;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * The writer's stream lane: deficit round-robin by bytes among streams that have packets queued and credit
 * to send them, so N streams share the socket evenly whatever their packet sizes.
 *
 * <p><b>Threads.</b> {@link #pump} runs on the connection's writer only and owns {@link #active} and each
 * stream's {@code inActive}/{@code deficit}. Other threads hand streams over through {@link #ready} (a stream
 * is offered when its {@code scheduled} flag goes false→true, or when credit arrives for a stream that was
 * waiting for it).
 *
 * <p><b>Send budget.</b> Besides the peer's window, a stream waits while it has its share of
 * {@code BraidConfig.streamSendBudget} in flight (see {@link #mustWait}): one stream alone may fill its
 * window, N streams fill about the budget together, so the bytes a small call finds ahead of it in the
 * kernel do not grow with the number of streams.
 *
 * <p><b>Budget.</b> One call to {@link #pump} adds at most about one full data packet ({@link #QUANTUM}) of
 * stream data to a write batch, after the control and call lanes were served, so a small call waits for
 * at most one data packet queued ahead of it in braid (plus what the kernel already holds).
 */
public final class StreamScheduler implements dev.braid.internal.engine.io.Outbound.StreamSource {
    /** Bytes a stream may send per round: one maximal libvirt stream packet, header included. */
    static final int QUANTUM = FrameHeader.HEADER_LENGTH + FrameHeader.MAX_STREAM_PAYLOAD;

    private static final VarHandle READY;

    static {
        try {
            READY = MethodHandles.lookup().findVarHandle(StreamScheduler.class, "ready", StreamSender.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Streams handed over by other threads: an intrusive lock-free stack (linked through
     * {@code StreamSender.readyNext}), so handing a stream over allocates nothing. A stream is in it at most
     * once ({@code StreamSender.inReady}, CAS by the offering thread, cleared by the writer when it takes the
     * stream); the writer takes the whole stack with an acquiring swap.
     */
    @SuppressWarnings("unused") // accessed through READY
    private volatile StreamSender ready;
    private final ArrayDeque<StreamSender> active = new ArrayDeque<>();

    /** Any thread: ask the writer to look at {@code s} (once, however often it is asked before it looks). */
    void offer(final StreamSender s) {
        if (!s.enterReady()) {
            return; // already handed over and not taken yet
        }
        StreamSender h;
        do {
            h = (StreamSender) READY.getVolatile(this);
            s.readyNext = h;
        } while (!READY.compareAndSet(this, h, s));
    }

    /**
     * Appends stream packets to {@code batch} from index {@code count}, at most {@code budget} bytes.
     *
     * @return the new count
     */
    @Override
    public int pump(final PooledBuffer[] batch, int count, final int max, long budget) {
        StreamSender r = (StreamSender) READY.getAndSet(this, null);
        StreamSender fifo = null;
        while (r != null) { // reverse the stack: streams join the round in the order they were handed over
            final StreamSender n = r.readyNext;
            r.readyNext = fifo;
            fifo = r;
            r = n;
        }
        while (fifo != null) {
            final StreamSender n = fifo.readyNext;
            fifo.readyNext = null;
            fifo.leaveReady(); // from here a new hand-over pushes it again
            if (!fifo.inActive) {
                fifo.inActive = true;
                active.addLast(fifo);
            }
            fifo = n;
        }
        int idle = 0; // visits in a row that sent nothing, to stop when every stream is blocked
        while (count < max && budget > 0 && !active.isEmpty() && idle <= 2 * active.size()) {
            final StreamSender s = active.peekFirst();
            if (!s.takeOutToken()) { // a drainer is emptying this stream's ring
                rotate(s);
                idle++;
                continue;
            }
            PooledBuffer sent = null;
            PooledBuffer payload = null;
            try {
                sent = visit(s, max - count);
                if (sent != null && sent.byteBuffer().remaining() < Frames.length(sent)) {
                    payload = s.pollRing(); // a caller-owned payload: the second of the pair (visit checked it is there)
                }
            } finally {
                s.releaseOutToken();
            }
            if (s.s.failed()) {
                s.drainOutbound(); // an abort that landed during the visit: its packets must not linger
            }
            if (sent != null) {
                batch[count++] = sent;
                budget -= sent.byteBuffer().remaining();
                if (payload != null) {
                    batch[count++] = payload;
                    budget -= payload.byteBuffer().remaining();
                }
                s.onRingSpace();
                idle = 0;
            } else {
                idle++;
            }
        }
        return count;
    }

    /**
     * Holding the stream's token: takes its next packet if it may go now, or updates the round-robin state.
     * Returns the packet to send (for a caller-owned payload, its header: the caller takes the payload
     * next), or null. {@code room}: batch entries left.
     */
    private PooledBuffer visit(final StreamSender s, final int room) {
        if (s.s.failed()) {
            if (s.releaseQueued()) {
                remove(s);
            } else {
                rotate(s); // the writing thread is appending to its open packet: it drains after
            }
            return null;
        }
        final PooledBuffer f = s.out.peek();
        if (f == null) {
            remove(s);
            return null;
        }
        if (s.isOpen(f)) {
            // The open packet (a write's remainder, which the next write may still fill): it goes now if a
            // full packet of this stream could, else it waits with the stream and grows meanwhile.
            final int size = s.packetSize();
            final long most = StreamFlowControl.cost(HEADER_LENGTH + size, size);
            if (s.flow.mustWait(most) && s.flow.parkForCredit(most)) {
                active.pollFirst();
                s.inActive = false;
                return null;
            }
            if (!s.sealIfOpen(f)) {
                rotate(s); // being appended to: the writing thread schedules the stream when it is done
                return null;
            }
        }
        // A packet whose payload is the caller's memory is two ring entries, header then payload, offered
        // together: its length word says the whole frame, the header buffer holds only the header.
        final int len = Frames.length(f);
        if (f.byteBuffer().remaining() < len && room < 2) {
            rotate(s); // no room left in this batch for both parts: next pass
            return null;
        }
        final long cost = StreamFlowControl.cost(len, Frames.type(f) == TYPE_STREAM_HOLE
                || Frames.status(f) == STATUS_CONTINUE ? len - HEADER_LENGTH : 0);
        if (s.flow.mustWait(cost) && s.flow.parkForCredit(cost)) {
            active.pollFirst(); // parked until credit arrives (the reader re-offers it)
            s.inActive = false;
            return null;
        }
        if (s.deficit < len) {
            s.deficit += QUANTUM;
            rotate(s);
            return null;
        }
        s.pollRing();
        s.flow.took(cost);
        s.deficit -= len;
        return f;
    }

    private void rotate(final StreamSender s) {
        active.pollFirst();
        active.addLast(s);
    }

    private void remove(final StreamSender s) {
        active.pollFirst();
        s.inActive = false;
        s.deficit = 0;
        s.unschedule();
        if (!s.out.isEmpty() && s.trySchedule()) { // a packet arrived after we looked
            s.inActive = true;
            active.addLast(s);
        }
    }
}
