package dev.braid.internal.tls;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

class CipherScratchTest {
    private static final int PACKET = 16_709;

    @Test
    void handsOutClearedHeapBuffersOfTheSizeAsked() {
        final ByteBuffer b = CipherScratch.take(PACKET);
        try {
            assertThat(b.isDirect()).as("the JDK's AES-GCM intrinsic runs on heap buffers only").isFalse();
            assertThat(b.hasArray()).isTrue();
            assertThat(b.capacity()).isGreaterThanOrEqualTo(PACKET);
            assertThat(b.position()).isZero();
            assertThat(b.limit()).isEqualTo(b.capacity());
            b.put(new byte[100]).flip();
        } finally {
            CipherScratch.give(b);
        }
        final ByteBuffer again = CipherScratch.take(PACKET);
        try {
            assertThat(again.position()).isZero();
            assertThat(again.limit()).as("cleared whatever the last user left").isEqualTo(again.capacity());
        } finally {
            CipherScratch.give(again);
        }
    }

    @Test
    void buffersGivenBackAreReusedUpToTheBound() {
        final int n = CipherScratch.RETAINED;
        final List<ByteBuffer> first = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            first.add(CipherScratch.take(PACKET));
        }
        first.forEach(CipherScratch::give);
        final Set<ByteBuffer> given = Collections.newSetFromMap(new IdentityHashMap<>());
        given.addAll(first);
        final List<ByteBuffer> second = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            second.add(CipherScratch.take(PACKET));
        }
        try {
            assertThat(second).as("steady state allocates nothing: the same buffers come back")
                    .allMatch(given::contains);
        } finally {
            second.forEach(CipherScratch::give);
        }
    }

    @Test
    void aBufferTooSmallForALargerPacketIsNotHandedOutAndStaysForOthers() {
        final ByteBuffer small = CipherScratch.take(PACKET);
        CipherScratch.give(small);
        final List<ByteBuffer> taken = new ArrayList<>();
        try {
            final ByteBuffer big = CipherScratch.take(small.capacity() + 1);
            taken.add(big);
            assertThat(big.capacity()).isGreaterThan(small.capacity());
            boolean found = false;
            for (int i = 0; i <= CipherScratch.RETAINED && !found; i++) {
                final ByteBuffer b = CipherScratch.take(PACKET);
                taken.add(b);
                found = b == small;
            }
            assertThat(found).as("the smaller buffer went back to the pool, not to the garbage collector").isTrue();
        } finally {
            taken.forEach(CipherScratch::give);
        }
    }
}
