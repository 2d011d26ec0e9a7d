package dev.braid.nio;

import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.IoThreads;
import dev.braid.spi.Transport;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ObjIntConsumer;

/**
 * A {@link ConnectionHandler} that plays the engine's part of the SPI contract and records what the nio
 * backend did. It fails loudly (into {@link #violations}) on anything the SPI forbids: a call before
 * {@code onOpen} or after {@code onClosed}; a reader-context call off the loop thread or on a thread not
 * marked as an I/O thread; two writer-context calls at once (the writer context may be the loop or a thread
 * writing through, one at a time); a second {@code onClosed}.
 *
 * <p>Outbound: buffers queued with {@link #send} (any thread) are handed out by {@code gatherOutbound} like the
 * engine's lanes: the unfinished ones of the last batch first, then new ones, at most {@code dst.length}.
 */
final class RecordingHandler implements ConnectionHandler {
    final CompletableFuture<Transport> opened = new CompletableFuture<>();
    final CompletableFuture<Throwable> closed = new CompletableFuture<>();
    final List<String> events = Collections.synchronizedList(new ArrayList<>());
    final List<String> violations = Collections.synchronizedList(new ArrayList<>());
    /** Names of the threads that ran the writer context, in order (consecutive duplicates collapsed). */
    final ConcurrentLinkedQueue<String> writerThreads = new ConcurrentLinkedQueue<>();
    final AtomicLong written = new AtomicLong();
    final AtomicInteger insideReader = new AtomicInteger();
    private final AtomicInteger insideWriter = new AtomicInteger();
    private final ByteArrayOutputStream received = new ByteArrayOutputStream();
    private final ByteBuffer inbound;
    private final ConcurrentLinkedQueue<ByteBuffer> outbound = new ConcurrentLinkedQueue<>();
    private final ByteBuffer[] batch = new ByteBuffer[256];
    private int batchCount;
    private volatile String lastWriter;
    private volatile boolean isClosed;
    volatile Thread loop;
    private volatile Transport transport;
    /** Called after each {@code onInbound(n)} with the bytes and the total received so far (reader context). */
    volatile ObjIntConsumer<byte[]> afterInbound = (chunk, total) -> { };
    /** Called at the end of {@code onOpen} (reader context). */
    volatile Runnable atOpen = () -> { };

    RecordingHandler(final int inboundCapacity) {
        this.inbound = ByteBuffer.allocateDirect(inboundCapacity);
    }

    Transport transport() {
        return transport;
    }

    /** Any thread: queue {@code data} (copied into direct buffers of {@code chunk} bytes) without a flush. */
    void queue(final byte[] data, final int chunk) {
        for (int off = 0; off < data.length; off += chunk) {
            final int n = Math.min(chunk, data.length - off);
            outbound.add(ByteBuffer.allocateDirect(n).put(data, off, n).flip());
        }
    }

    /** Any thread: queue {@code data} and ask for a flush. */
    void send(final byte[] data, final int chunk) {
        queue(data, chunk);
        transport.requestFlush();
    }

    byte[] received() {
        synchronized (received) {
            return received.toByteArray();
        }
    }

    private void check(final String what) {
        if (isClosed) {
            violations.add(what + " after onClosed");
        }
        if (transport == null && !what.equals("onOpen")) {
            violations.add(what + " before onOpen");
        }
    }

    private void reader(final String what) {
        check(what);
        final Thread t = loop;
        if (t != null && t != Thread.currentThread()) {
            violations.add(what + " on " + Thread.currentThread().getName() + ", not on " + t.getName());
        }
        if (!IoThreads.isIoThread()) {
            violations.add(what + " on " + Thread.currentThread().getName() + ", not marked as an I/O thread");
        }
    }

    private void enterWriter(final String what) {
        check(what);
        if (insideWriter.incrementAndGet() != 1) {
            violations.add(what + " overlapped another writer-context call");
        }
        final String name = Thread.currentThread().getName();
        if (!name.equals(lastWriter)) {
            lastWriter = name;
            writerThreads.add(name);
        }
    }

    @Override
    public void onOpen(final Transport t) {
        check("onOpen");
        loop = Thread.currentThread();
        transport = t;
        reader("onOpen");
        events.add("open");
        atOpen.run();
        opened.complete(t);
    }

    @Override
    public ByteBuffer inboundBuffer() {
        reader("inboundBuffer");
        return inbound;
    }

    @Override
    public void onInbound(final int bytes) {
        reader("onInbound");
        insideReader.incrementAndGet();
        try {
            events.add(bytes == 0 ? "resume" : "in");
            if (bytes > 0) {
                inbound.flip();
                if (inbound.remaining() != bytes) {
                    violations.add("onInbound(" + bytes + ") but the buffer holds " + inbound.remaining());
                }
                final byte[] b = new byte[inbound.remaining()];
                inbound.get(b);
                inbound.clear();
                final int total;
                synchronized (received) {
                    received.writeBytes(b);
                    total = received.size();
                }
                afterInbound.accept(b, total);
            }
        } finally {
            insideReader.decrementAndGet();
        }
    }

    @Override
    public void onInputClosed() {
        reader("onInputClosed");
        events.add("eof");
    }

    @Override
    public int gatherOutbound(final ByteBuffer[] dst) {
        enterWriter("gatherOutbound");
        try {
            final int max = Math.min(dst.length, batch.length);
            ByteBuffer b;
            while (batchCount < max && (b = outbound.poll()) != null) {
                batch[batchCount++] = b;
            }
            System.arraycopy(batch, 0, dst, 0, batchCount);
            return batchCount;
        } finally {
            insideWriter.decrementAndGet();
        }
    }

    @Override
    public void onOutboundWritten(final long bytes) {
        enterWriter("onOutboundWritten");
        try {
            written.addAndGet(bytes);
            int done = 0;
            while (done < batchCount && !batch[done].hasRemaining()) {
                done++;
            }
            for (int i = done; i < batchCount; i++) {
                if (i > done && batch[i].position() != 0) {
                    violations.add("a buffer behind an unfinished one was advanced");
                }
            }
            System.arraycopy(batch, done, batch, 0, batchCount - done);
            for (int i = batchCount - done; i < batchCount; i++) {
                batch[i] = null;
            }
            batchCount -= done;
        } finally {
            insideWriter.decrementAndGet();
        }
    }

    @Override
    public void onClosed(final Throwable reason) {
        check("onClosed");
        isClosed = true;
        events.add("closed");
        if (!closed.complete(reason)) {
            violations.add("onClosed called twice");
        }
    }
}
