package dev.braid.internal.wire;

import dev.braid.ProtocolException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static dev.braid.internal.wire.WireTesting.hex;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** braid's HELLO struct and the program numbers (braid's own and libvirt's keepalive). */
class ExtensionTest {

    @Test
    void programNumbersSpellTheirNames() {
        assertThat(new String(ByteBuffer.allocate(4).putInt(Extension.PROGRAM).array(), StandardCharsets.US_ASCII))
                .isEqualTo("brid");
        assertThat(new String(ByteBuffer.allocate(4).putInt(Extension.KEEPALIVE_PROGRAM).array(),
                StandardCharsets.US_ASCII)).isEqualTo("keep");
        assertThat(Extension.KEEPALIVE_VERSION).isEqualTo(1);
        assertThat(Extension.KEEPALIVE_PING).isEqualTo(1);
        assertThat(Extension.KEEPALIVE_PONG).isEqualTo(2);
    }

    @Test
    void helloGoldenBytesAndRoundTrip() {
        final Extension.Hello h = new Extension.Hello(1, 0, 33_554_432, 1024, 64, 1 << 20);
        final ByteBuffer b = ByteBuffer.allocate(Extension.HELLO_LENGTH);
        h.encode(b);
        assertThat(b.array()).containsExactly(hex(
                "00000001", // version
                "00000000", // features
                "02000000", // max_message 32 MiB
                "00000400", // max_outstanding 1024
                "00000040", // max_streams 64
                "00100000"  // initial_window 1 MiB
        ));
        b.flip();
        assertThat(Extension.Hello.decode(b)).isEqualTo(h);
    }

    @Test
    void helloRejectsWrongLengthAndInsaneValues() {
        assertThatThrownBy(() -> Extension.Hello.decode(ByteBuffer.allocate(20)))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("20 bytes, expected 24");
        assertThatThrownBy(() -> Extension.Hello.decode(ByteBuffer.allocate(28)))
                .isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> Extension.Hello.decode(hello(0, 1 << 20, 1, 0, 1)))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("version 0");
        assertThatThrownBy(() -> Extension.Hello.decode(hello(1, 100, 1, 0, 1)))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("out-of-range");
        assertThatThrownBy(() -> Extension.Hello.decode(hello(1, 1 << 20, 0, 0, 1)))
                .isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> Extension.Hello.decode(hello(1, 1 << 20, 1, -1, 1)))
                .isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> Extension.Hello.decode(hello(1, 1 << 20, 1, 0, 0)))
                .isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> Extension.Hello.decode(hello(1, 1 << 20, 1, 0, 511)))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("below the minimum of 512");
        assertThat(Extension.Hello.decode(hello(1, 1 << 20, 1, 0, 512)).maxStreams()).isZero();
    }

    private static ByteBuffer hello(final int version, final int maxMessage, final int maxOutstanding,
                                    final int maxStreams, final int window) {
        final ByteBuffer b = ByteBuffer.allocate(Extension.HELLO_LENGTH);
        new Extension.Hello(version, 0, maxMessage, maxOutstanding, maxStreams, window).encode(b);
        return b.flip();
    }
}
