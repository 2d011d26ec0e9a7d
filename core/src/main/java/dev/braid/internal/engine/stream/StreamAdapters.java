package dev.braid.internal.engine.stream;

import dev.braid.BraidException;
import dev.braid.BraidStream;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * The convenience forms of a stream, built on its public API only: the pumps ({@code sendAll},
 * {@code receiveAll}), {@code java.io} streams and NIO channels.
 *
 * <p><b>Threads.</b> Each adapter is used by the stream's one writing or one reading thread, as the stream
 * itself; the objects returned are not thread-safe.
 */
final class StreamAdapters {
    /** Buffer size of the pumps: one power-of-two write of the size the command line uses. */
    private static final int PUMP_BUFFER = 256 * 1024;

    private StreamAdapters() {
    }

    static long sendAll(final BraidStream s, final BraidStream.Source source, final int maxPacket) {
        final ByteBuffer buf = ByteBuffer.allocateDirect(Math.min(maxPacket, PUMP_BUFFER));
        long total = 0;
        while (true) {
            buf.clear();
            final int n;
            try {
                n = source.fill(buf);
            } catch (Exception e) {
                s.abort("the source failed: " + e);
                throw new BraidException(BraidException.Category.CANCELLED, "stream " + s
                        + ": sendAll's source failed: " + e, e);
            }
            if (n < 0) {
                break;
            }
            buf.flip();
            total += buf.remaining();
            s.write(buf);
        }
        s.finish();
        return total;
    }

    static long receiveAll(final BraidStream s, final BraidStream.Sink sink) {
        final ByteBuffer buf = ByteBuffer.allocateDirect(PUMP_BUFFER);
        long total = 0;
        while (true) {
            buf.clear();
            final int n = s.read(buf);
            if (n == BraidStream.EOF) {
                break;
            }
            buf.flip();
            total += n;
            try {
                sink.accept(buf.asReadOnlyBuffer());
            } catch (Exception e) {
                s.abort("the sink failed: " + e);
                throw new BraidException(BraidException.Category.CANCELLED, "stream " + s
                        + ": receiveAll's sink failed: " + e, e);
            }
        }
        s.finish();
        return total;
    }

    /** Reads the stream; closing it before EOF aborts the stream. */
    static InputStream inputStream(final BraidStream s) {
        return new InputStream() {
            private boolean eof;

            @Override
            public int read() {
                final byte[] one = new byte[1];
                final int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xFF;
            }

            @Override
            public int read(final byte[] b, final int off, final int len) {
                if (len == 0) {
                    return 0;
                }
                final int n = s.read(ByteBuffer.wrap(b, off, len));
                eof = n == BraidStream.EOF;
                return n;
            }

            @Override
            public void close() {
                if (!eof && s.isOpen()) {
                    s.abort("input stream closed before the end of the stream");
                }
            }
        };
    }

    /** Writes the stream; closing it finishes the stream (the full handshake). */
    static OutputStream outputStream(final BraidStream s) {
        return new OutputStream() {
            @Override
            public void write(final int b) {
                s.write(new byte[]{(byte) b}, 0, 1);
            }

            @Override
            public void write(final byte[] b, final int off, final int len) {
                s.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                try {
                    if (s.isOpen()) {
                        s.finish();
                    }
                } catch (BraidException e) {
                    throw new IOException(e.getMessage(), e);
                }
            }
        };
    }

    static ReadableByteChannel readableChannel(final BraidStream s) {
        return new ReadableByteChannel() {
            private volatile boolean open = true;

            @Override
            public int read(final ByteBuffer dst) throws IOException {
                if (!open) {
                    throw new ClosedChannelException();
                }
                return s.read(dst);
            }

            @Override
            public boolean isOpen() {
                return open;
            }

            @Override
            public void close() {
                open = false;
            }
        };
    }

    static WritableByteChannel writableChannel(final BraidStream s) {
        return new WritableByteChannel() {
            private volatile boolean open = true;

            @Override
            public int write(final ByteBuffer src) throws IOException {
                if (!open) {
                    throw new ClosedChannelException();
                }
                final int n = src.remaining();
                s.write(src);
                return n;
            }

            @Override
            public boolean isOpen() {
                return open;
            }

            @Override
            public void close() {
                open = false;
            }
        };
    }
}
