package dev.braid.stress;

import dev.braid.BraidStream;
import dev.braid.StreamPacket;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;

/**
 * Deterministic stream content, checked end to end with CRC32C. Stream {@code seed}'s byte {@code i} is
 * {@code BLOCK[(seed + i) mod BLOCK.length]}, where BLOCK is one MiB of fixed pseudo-random bytes, so writers
 * send slices of a shared array (no per-stream data) and both ends compute the expected CRC independently.
 * Thread-safe (BLOCK is never written after class initialisation).
 */
final class Payload {
    private static final byte[] BLOCK = new byte[1 << 20];

    static {
        new SplittableRandom(0x62726169L).nextBytes(BLOCK);
    }

    private Payload() {
    }

    /** CRC32C of stream {@code seed}'s first {@code length} bytes. */
    static int crc(final int seed, final long length) {
        final CRC32C crc = new CRC32C();
        long pos = 0;
        while (pos < length) {
            final int start = start(seed, pos);
            final int n = (int) Math.min(BLOCK.length - start, length - pos);
            crc.update(BLOCK, start, n);
            pos += n;
        }
        return (int) crc.getValue();
    }

    /** Writes stream {@code seed}'s first {@code length} bytes in writes of at most {@code chunk} bytes. */
    static void send(final BraidStream s, final int seed, final long length, final int chunk) {
        long pos = 0;
        while (pos < length) {
            final int start = start(seed, pos);
            final int n = (int) Math.min(Math.min(BLOCK.length - start, length - pos), chunk);
            s.write(ByteBuffer.wrap(BLOCK, start, n));
            pos += n;
        }
    }

    /** Reads {@code s} to its end (zero copy), returning [bytes, crc]. */
    static long[] receive(final BraidStream s) {
        final CRC32C crc = new CRC32C();
        long n = 0;
        while (true) {
            final StreamPacket p = s.readPacket();
            if (p == null) {
                break;
            }
            try (p) {
                if (p.isHole()) {
                    for (long i = 0; i < p.holeLength(); i++) {
                        crc.update(0);
                    }
                    n += p.holeLength();
                } else {
                    n += p.data().remaining();
                    crc.update(p.data());
                }
            }
        }
        return new long[]{n, (int) crc.getValue()};
    }

    private static int start(final int seed, final long pos) {
        return (int) Math.floorMod(seed + pos, (long) BLOCK.length);
    }
}
