package dev.braid.internal.wire;

import dev.braid.ProtocolException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static dev.braid.internal.wire.WireTesting.hex;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** XDR primitives: padding, strings, bools, and the checks that keep malformed input a ProtocolException. */
class XdrTest {

    @Test
    void padRoundsUpToFour() {
        assertThat(Xdr.pad(0)).isZero();
        assertThat(Xdr.pad(1)).isEqualTo(3);
        assertThat(Xdr.pad(2)).isEqualTo(2);
        assertThat(Xdr.pad(3)).isEqualTo(1);
        assertThat(Xdr.pad(4)).isZero();
        assertThat(Xdr.stringSize(0)).isEqualTo(4);
        assertThat(Xdr.stringSize(5)).isEqualTo(12);
    }

    @Test
    void writesStringsWithZeroPadding() {
        final ByteBuffer b = ByteBuffer.allocate(12);
        for (int i = 0; i < 12; i++) {
            b.put(i, (byte) 0xee); // padding must be written, not left as it was
        }
        Xdr.writeString(b, "héé"); // 5 UTF-8 bytes
        assertThat(b.position()).isEqualTo(12);
        assertThat(b.array()).containsExactly(hex("00000005 68c3a9c3 a9000000"));
    }

    @Test
    void writesOptionalStrings() {
        final ByteBuffer b = ByteBuffer.allocate(16);
        Xdr.writeOptionalString(b, null);
        Xdr.writeOptionalString(b, "");
        Xdr.writeOptionalString(b, null);
        assertThat(b.position()).isEqualTo(16);
        assertThat(b.array()).containsExactly(hex("00000000 00000001 00000000 00000000"));
        assertThat(Xdr.optionalStringSize(null)).isEqualTo(4);
        assertThat(Xdr.optionalStringSize("")).isEqualTo(8);
        assertThat(Xdr.optionalStringSize("abcde")).isEqualTo(16);
    }

    @Test
    void readsWhatItWrites() {
        final ByteBuffer b = ByteBuffer.allocate(64);
        Xdr.writeString(b, "x");
        Xdr.writeOptionalString(b, null);
        Xdr.writeOptionalString(b, "日本");
        Xdr.writeFixedOpaque(b, new byte[]{1, 2, 3, 4, 5});
        b.putLong(-2L);
        b.flip();
        assertThat(Xdr.readString(b, "a")).isEqualTo("x");
        assertThat(Xdr.readOptionalString(b, "b")).isNull();
        assertThat(Xdr.readOptionalString(b, "c")).isEqualTo("日本");
        assertThat(Xdr.readFixedOpaque(b, 5, "d")).containsExactly(1, 2, 3, 4, 5);
        assertThat(Xdr.readHyper(b, "e")).isEqualTo(-2L);
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void boolMustBeZeroOrOne() {
        assertThat(Xdr.readBool(ByteBuffer.wrap(hex("00000000")), "flag")).isFalse();
        assertThat(Xdr.readBool(ByteBuffer.wrap(hex("00000001")), "flag")).isTrue();
        assertThatThrownBy(() -> Xdr.readBool(ByteBuffer.wrap(hex("00000002")), "flag"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("flag is a bool but holds 2");
    }

    @Test
    void rejectsStringLengthsBeyondTheLimitOrNegativeWithoutAllocating() {
        assertThatThrownBy(() -> Xdr.readString(ByteBuffer.wrap(hex("00400001")), "name"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("exceeds " + Xdr.MAX_STRING);
        assertThatThrownBy(() -> Xdr.readString(ByteBuffer.wrap(hex("ffffffff")), "name"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("4294967295");
        assertThatThrownBy(() -> Xdr.readString(ByteBuffer.wrap(hex("80000000")), "name"))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void rejectsTruncatedInput() {
        assertThatThrownBy(() -> Xdr.readInt(ByteBuffer.wrap(hex("000000")), "i"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("i needs 4 bytes, 3 left");
        assertThatThrownBy(() -> Xdr.readHyper(ByteBuffer.wrap(hex("00000000 000000")), "h"))
                .isInstanceOf(ProtocolException.class);
        // the string is there but its padding is not
        assertThatThrownBy(() -> Xdr.readString(ByteBuffer.wrap(hex("00000001 41")), "s"))
                .isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> Xdr.readFixedOpaque(ByteBuffer.wrap(hex("01020304 05")), 6, "o"))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void utf8LengthOfEachForm() {
        assertThat(Xdr.utf8Length("")).isZero();
        assertThat(Xdr.utf8Length("a\u0000")).isEqualTo(2);
        assertThat(Xdr.utf8Length("é")).isEqualTo(2);
        assertThat(Xdr.utf8Length("€")).isEqualTo(3);
        assertThat(Xdr.utf8Length("😀")).isEqualTo(4);
    }
}
