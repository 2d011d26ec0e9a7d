package dev.braid.internal.tls;

import dev.braid.internal.concurrent.MpmcArrayQueue;

import java.nio.ByteBuffer;

/**
 * Heap buffers that a large TLS record is sealed into or opened from, shared by every {@link TlsConnection}.
 *
 * <h2>Why</h2>
 * The JDK's {@code SSLEngine} encrypts a record in place in the buffer it wraps into, and decrypts it in place
 * in the buffer it unwraps from. Its AES-GCM runs its vectorised intrinsic over the whole record only when that
 * buffer is a heap buffer; on a direct buffer it copies the record through two 512-byte temporary arrays, one
 * intrinsic call per 512 bytes ({@code GaloisCounterMode.GCMEngine.implGCMCrypt(ByteBuffer, ByteBuffer)}), so a
 * 16 KiB record costs about twice the CPU (measured: {@code SSLEngine.wrap} of 16 KiB 9 to 18 µs into a direct
 * buffer, 3 to 8 µs into a heap one, JDK 25). braid's socket buffers are direct (pooled, for every backend's
 * zero-copy I/O), so {@link TlsConnection} seals a large record into one of these and copies it into
 * {@code netOut}, and copies a large record out of {@code netIn} into one of these before opening it: one
 * {@code memcpy} of the record instead of the slow cipher path. Records of less than {@link #MIN_RECORD}
 * bytes (a call, a reply, a CREDIT) do not benefit (the JDK's intrinsic needs 512 bytes) and skip it.
 *
 * <h2>Threads and ownership</h2>
 * Any thread: {@link #take} hands a buffer to the caller, who owns it until {@link #give} (normally within
 * one {@code wrap} or {@code unwrap} pass of one connection, on one thread). The queue's release/acquire pair
 * publishes the buffer's contents with it. Up to {@link #RETAINED} buffers are kept; a {@code take} that finds
 * none allocates one (at most a few per concurrently sealing or opening thread, then reused), and a
 * {@code give} beyond the bound drops it to the garbage collector. A buffer returned holds the last record's
 * plaintext or ciphertext until it is reused: it never leaves the process, like any pooled buffer.
 */
final class CipherScratch {
    /** Records (ciphertext bytes, header included) at least this long go through a scratch buffer. */
    static final int MIN_RECORD = 1024;
    /** Buffers kept for reuse. */
    static final int RETAINED = 4 * Runtime.getRuntime().availableProcessors() + 4;

    private static final MpmcArrayQueue<ByteBuffer> FREE = new MpmcArrayQueue<>(RETAINED);

    private CipherScratch() {
    }

    /**
     * Any thread: a cleared heap buffer of at least {@code capacity} bytes, owned by the caller until
     * {@link #give}.
     *
     * @param capacity the least capacity needed (one TLS packet)
     * @return the buffer, cleared
     */
    static ByteBuffer take(final int capacity) {
        final ByteBuffer b = FREE.poll();
        if (b != null && b.capacity() >= capacity) {
            return b.clear();
        }
        if (b != null) {
            FREE.offer(b); // smaller than a peer's larger packets need: left for others
        }
        return ByteBuffer.allocate(capacity); // none free: a new one, kept by give
    }

    /**
     * Any thread: returns a buffer from {@link #take}; the caller must not touch it afterwards.
     *
     * @param b the buffer (null: nothing)
     */
    static void give(final ByteBuffer b) {
        if (b != null) {
            FREE.offer(b); // full: dropped
        }
    }
}
