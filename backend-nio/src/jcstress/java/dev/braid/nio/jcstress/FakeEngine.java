package dev.braid.nio.jcstress;

import dev.braid.internal.backend.OutboundWriter;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The engine's writer side, reduced to what the writer flag protects: a lock-free queue of frames that any
 * thread offers, a batch that only the writer context touches, and a count of writer-context calls that ran
 * at the same time (which must stay 0). Plus a socket ({@link Socket}) that takes everything and counts the
 * frames it took, and stamps each write with a ticket so a test can order writes against other events.
 */
final class FakeEngine implements ConnectionHandler {
    final ConcurrentLinkedQueue<ByteBuffer> queue = new ConcurrentLinkedQueue<>();
    /** Writer-context calls running now; {@link #overlaps} counts each time a second one joined. */
    private final AtomicInteger inside = new AtomicInteger();
    final AtomicInteger overlaps = new AtomicInteger();
    /** Writer context only (that is what is being tested: plain fields). */
    private final ByteBuffer[] batch = new ByteBuffer[OutboundWriter.GATHER];
    private int batchCount;

    void offer(final int bytes) {
        queue.offer(ByteBuffer.allocate(bytes));
    }

    @Override
    public int gatherOutbound(final ByteBuffer[] dst) {
        enter();
        try {
            ByteBuffer b;
            while (batchCount < dst.length && (b = queue.poll()) != null) {
                batch[batchCount++] = b;
            }
            System.arraycopy(batch, 0, dst, 0, batchCount);
            return batchCount;
        } finally {
            inside.decrementAndGet();
        }
    }

    @Override
    public void onOutboundWritten(final long bytes) {
        enter();
        try {
            int done = 0;
            while (done < batchCount && !batch[done].hasRemaining()) {
                done++;
            }
            System.arraycopy(batch, done, batch, 0, batchCount - done);
            for (int i = batchCount - done; i < batchCount; i++) {
                batch[i] = null;
            }
            batchCount -= done;
        } finally {
            inside.decrementAndGet();
        }
    }

    private void enter() {
        if (inside.incrementAndGet() != 1) {
            overlaps.incrementAndGet();
        }
    }

    /** A socket that takes every byte it is offered, counting frames and stamping the last write. */
    static final class Socket extends OutboundWriter {
        final AtomicInteger tickets;
        int framesWritten;
        /** Ticket taken by the last write, 0 if none. */
        volatile int lastWriteTicket;

        Socket(final FakeEngine engine, final AtomicInteger tickets) {
            super(engine);
            this.tickets = tickets;
        }

        /** The loop's flush ({@link OutboundWriter#flush}); this socket never throws. */
        int loopFlush() {
            try {
                return flush(Long.MAX_VALUE);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        /** A caller writing through ({@link OutboundWriter#flushThrough}). */
        int writeThrough() {
            try {
                return flushThrough(WRITE_THROUGH_BUDGET);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        @Override
        protected long write(final ByteBuffer[] srcs, final int count) {
            lastWriteTicket = tickets.incrementAndGet();
            long n = 0;
            for (int i = 0; i < count; i++) {
                n += srcs[i].remaining();
                srcs[i].position(srcs[i].limit());
                framesWritten++;
            }
            return n;
        }
    }

    // ------------------------------------------------------------------ the reader side: not used here

    @Override
    public void onOpen(final Transport transport) {
    }

    @Override
    public ByteBuffer inboundBuffer() {
        throw new UnsupportedOperationException();
    }

    @Override
    public void onInbound(final int bytes) {
    }

    @Override
    public void onInputClosed() {
    }

    @Override
    public void onClosed(final Throwable reason) {
    }
}
