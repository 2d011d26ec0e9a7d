package dev.braid.cli;

import dev.braid.BraidStream;
import dev.braid.StreamPacket;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Moves a file through a stream and back, both ends of {@code get}, {@code put} and {@code serve}.
 *
 * <p>Sparse sending: the file is read in {@link #BLOCK} chunks and looked at in {@link #GRANULE} (4 KiB)
 * granules; a run of all-zero granules goes as one hole ({@link BraidStream#sendHole}), however long,
 * across chunk boundaries. Receiving: data is written at its offset and a hole only moves the offset, so
 * a fresh file stays sparse; the file's length is set at the end (a trailing hole too).
 *
 * <p>Each method is used by one thread per stream (the stream's writer or reader).
 */
final class Transfers {
    static final int GRANULE = 4096;
    static final int BLOCK = 256 * 1024;

    private Transfers() {
    }

    /** Paces a transfer at a byte rate (0 = unlimited). One per transfer; not thread-safe. */
    static final class Pace {
        private final long bytesPerSecond;
        private final long start = System.nanoTime();
        private long done;

        Pace(final long bytesPerSecond) {
            this.bytesPerSecond = bytesPerSecond;
        }

        void account(final long n) throws InterruptedException {
            if (bytesPerSecond <= 0) {
                return;
            }
            done += n;
            final long dueNanos = (long) (done * 1e9 / bytesPerSecond);
            final long ahead = dueNanos - (System.nanoTime() - start);
            if (ahead > 1_000_000) {
                Thread.sleep(ahead / 1_000_000);
            }
        }
    }

    /**
     * Writes {@code file}'s bytes to {@code stream} (does not finish it); {@code progress} counts them as
     * they go, holes included. The block it reads into is lent by {@code pool} and given back before this
     * returns, however it returns.
     *
     * @return the bytes sent (holes included)
     */
    static long send(final FileChannel file, final BraidStream stream, final boolean sparse, final AtomicLong progress,
                     final Pace pace, final BufferPool pool) throws IOException, InterruptedException {
        final PooledBuffer block = pool.acquire(BLOCK);
        try {
            return send(file, stream, sparse, progress, pace, block.byteBuffer().clear().limit(BLOCK).slice());
        } finally {
            block.release();
        }
    }

    private static long send(final FileChannel file, final BraidStream stream, final boolean sparse,
                             final AtomicLong progress, final Pace pace, final ByteBuffer buf)
            throws IOException, InterruptedException {
        long total = 0;
        long pendingHole = 0;
        while (true) {
            buf.clear();
            int n = 0;
            while (buf.hasRemaining()) { // fill the block: granules line up with file offsets
                final int r = file.read(buf);
                if (r < 0) {
                    break;
                }
                n += r;
            }
            if (n == 0) {
                break;
            }
            buf.flip();
            if (!sparse) {
                stream.write(buf);
            } else {
                int dataStart = -1;
                for (int off = 0; off < n; off += GRANULE) {
                    final int end = Math.min(off + GRANULE, n);
                    if (isZero(buf, off, end)) {
                        if (dataStart >= 0) {
                            stream.write(buf.duplicate().position(dataStart).limit(off));
                            dataStart = -1;
                        }
                        pendingHole += end - off;
                    } else {
                        if (pendingHole > 0) {
                            stream.sendHole(pendingHole);
                            pendingHole = 0;
                        }
                        if (dataStart < 0) {
                            dataStart = off;
                        }
                    }
                }
                if (dataStart >= 0) {
                    stream.write(buf.duplicate().position(dataStart).limit(n));
                }
            }
            total += n;
            progress.addAndGet(n);
            pace.account(n);
            if (n < BLOCK) {
                break; // end of file
            }
        }
        if (pendingHole > 0) {
            stream.sendHole(pendingHole);
        }
        return total;
    }

    private static boolean isZero(final ByteBuffer b, final int from, final int to) {
        int i = from;
        for (; i + 8 <= to; i += 8) {
            if (b.getLong(i) != 0) {
                return false;
            }
        }
        for (; i < to; i++) {
            if (b.get(i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** Checks each packet a receiver is about to write; throws to stop the transfer (the stream is then aborted). */
    @FunctionalInterface
    interface ReceiveGuard {
        ReceiveGuard NONE = (end, data) -> { };

        /**
         * @param end  the file's length once the packet is written (holes included)
         * @param data the data bytes (holes excluded) written so far, this packet included
         */
        void check(long end, long data);
    }

    /**
     * Reads {@code stream} to its end into {@code file} from offset 0 (holes by seeking), sets the file's
     * length and forces it to disk. Does not finish the stream. {@code guard} sees every packet before it
     * is written.
     *
     * @return the bytes received (holes included)
     */
    static long receive(final BraidStream stream, final RandomAccessFile file, final AtomicLong progress,
                        final Pace pace, final ReceiveGuard guard) throws IOException, InterruptedException {
        return receive(stream, file, 0, progress, pace, guard);
    }

    /**
     * {@link #receive(BraidStream, RandomAccessFile, AtomicLong, Pace, ReceiveGuard)} from offset {@code start}
     * (a resumed download: what is before it stays as it is).
     *
     * @return the file's length at the end (start + the bytes received, holes included)
     */
    static long receive(final BraidStream stream, final RandomAccessFile file, final long start,
                        final AtomicLong progress, final Pace pace, final ReceiveGuard guard)
            throws IOException, InterruptedException {
        final FileChannel ch = file.getChannel();
        long pos = start;
        long dataBytes = 0;
        for (StreamPacket next = stream.readPacket(); next != null; next = stream.readPacket()) {
            try (StreamPacket p = next) {
                final long n;
                if (p.isHole()) {
                    n = p.holeLength();
                    guard.check(pos + n, dataBytes);
                } else {
                    final ByteBuffer data = p.data();
                    n = data.remaining();
                    dataBytes += n;
                    guard.check(pos + n, dataBytes);
                    long at = pos;
                    while (data.hasRemaining()) {
                        at += ch.write(data, at);
                    }
                }
                pos += n;
                progress.addAndGet(n);
                pace.account(n);
            }
        }
        file.setLength(pos); // extends over a trailing hole without writing it
        ch.force(false);
        return pos;
    }

    /** SHA-256 of {@code file}'s whole content (positional reads: its position is left alone). */
    static byte[] sha256(final FileChannel file) throws IOException {
        final java.security.MessageDigest md;
        try {
            md = java.security.MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
        final ByteBuffer buf = ByteBuffer.allocate(BLOCK);
        long at = 0;
        while (true) {
            buf.clear();
            final int n = file.read(buf, at);
            if (n < 0) {
                break;
            }
            at += n;
            md.update(buf.array(), 0, n);
        }
        return md.digest();
    }

    /**
     * The temporary file a resumable download of {@code target} is written under:
     * {@code .NAME.braid-resume.part} next to it, the same name every time, so that a later
     * {@code get --resume} finds what an interrupted one wrote. Not created here.
     */
    static Path resumeTemp(final Path target) {
        final Path abs = target.toAbsolutePath();
        return abs.getParent().resolve("." + prefixOfAtMostBytes(abs.getFileName().toString(), 200)
                + ".braid-resume.part");
    }

    /**
     * A fresh file next to {@code target} to receive into: hidden, unique, and named after the target so a
     * leftover is recognisable ({@code .NAME.braid-XXXXXXXX.part}).
     */
    static Path createTemp(final Path target) throws IOException {
        return createTemp(target.toAbsolutePath().getParent(), target.getFileName().toString());
    }

    /**
     * Like {@link #createTemp(Path)}, in {@code dir} for a file to be named {@code name} (elsewhere, later).
     * A long name is cut to its first 200 bytes in the temporary name, which must stay within the file
     * system's 255 bytes.
     */
    static Path createTemp(final Path dir, final String name) throws IOException {
        final String stem = prefixOfAtMostBytes(name, 200);
        for (int attempt = 0; ; attempt++) {
            final Path tmp = dir.resolve("." + stem + ".braid-"
                    + Integer.toHexString(ThreadLocalRandom.current().nextInt()) + ".part");
            try {
                Files.newByteChannel(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
                return tmp;
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt > 100) {
                    throw e;
                }
            }
        }
    }

    private static String prefixOfAtMostBytes(final String s, final int maxBytes) {
        int bytes = 0;
        int end = 0;
        while (end < s.length()) {
            final int cp = s.codePointAt(end);
            final int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (bytes + n > maxBytes) {
                break;
            }
            bytes += n;
            end += Character.charCount(cp);
        }
        return s.substring(0, end);
    }
}
