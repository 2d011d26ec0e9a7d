package dev.braid.xdr;

import dev.braid.ProtocolException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The public XDR reader and writer: every RFC 4506 type, golden bytes, and the checks that keep malformed
 * input a ProtocolException raised before anything is allocated.
 */
class XdrTest {

    static byte[] hex(final String... words) {
        return HexFormat.of().parseHex(String.join("", words).replaceAll("\\s+", ""));
    }

    enum Color { RED, GREEN, BLUE }

    @Test
    void primitivesHaveTheirRfcLayout() {
        final ByteBuffer b = ByteBuffer.allocate(48);
        XdrWriter.writeInt(b, -2);
        XdrWriter.writeUnsignedInt(b, 0xFFFF_FFFEL);
        XdrWriter.writeHyper(b, 0x0102_0304_0506_0708L);
        XdrWriter.writeBool(b, true);
        XdrWriter.writeEnum(b, 2);
        XdrWriter.writeFloat(b, 1.0f);
        XdrWriter.writeDouble(b, -2.0);
        assertThat(b.position()).isEqualTo(36);
        assertThat(java.util.Arrays.copyOf(b.array(), 36)).containsExactly(hex(
                "fffffffe fffffffe 01020304 05060708 00000001 00000002 3f800000 c0000000 00000000"));
        b.flip();
        assertThat(XdrReader.readInt(b)).isEqualTo(-2);
        assertThat(XdrReader.readUnsignedInt(b)).isEqualTo(0xFFFF_FFFEL);
        assertThat(XdrReader.readHyper(b)).isEqualTo(0x0102_0304_0506_0708L);
        assertThat(XdrReader.readBool(b)).isTrue();
        assertThat(XdrReader.readEnum(b, Color.values(), "color")).isEqualTo(Color.BLUE);
        assertThat(XdrReader.readFloat(b)).isEqualTo(1.0f);
        assertThat(XdrReader.readDouble(b)).isEqualTo(-2.0);
        assertThat(b.hasRemaining()).isFalse();
        assertThatThrownBy(() -> XdrWriter.writeUnsignedInt(ByteBuffer.allocate(4), -1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void enumsOutOfRangeAreMalformed() {
        assertThatThrownBy(() -> XdrReader.readEnum(ByteBuffer.wrap(hex("00000003")), Color.values(), "color"))
                .isInstanceOf(ProtocolException.class)
                .hasMessage("malformed XDR: color is an enum of 3 values but holds 3");
        assertThatThrownBy(() -> XdrCodec.enumOf(Color.values()).read(ByteBuffer.wrap(hex("ffffffff"))))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("holds -1");
    }

    @Test
    void variableOpaqueAndIntoACallersBuffer() {
        final ByteBuffer b = ByteBuffer.allocate(24);
        XdrWriter.writeOpaque(b, new byte[]{9, 8, 7, 6, 5});
        XdrWriter.writeOpaque(b, ByteBuffer.wrap(new byte[]{1, 2}));
        assertThat(b.position()).isEqualTo(20);
        assertThat(java.util.Arrays.copyOf(b.array(), 20)).containsExactly(hex(
                "00000005 09080706 05000000 00000002 01020000"));
        b.flip();
        assertThat(XdrReader.readOpaque(b, "a")).containsExactly(9, 8, 7, 6, 5);
        final ByteBuffer into = ByteBuffer.allocate(8);
        assertThat(XdrReader.readOpaque(b, into, "b")).isEqualTo(2);
        assertThat(into.position()).isEqualTo(2);
        assertThat(b.hasRemaining()).isFalse();
        // too long for the caller's buffer: refused before anything is copied
        assertThatThrownBy(() -> XdrReader.readOpaque(ByteBuffer.wrap(hex("00000005 0102030405000000")),
                ByteBuffer.allocate(4), "c")).isInstanceOf(ProtocolException.class)
                .hasMessage("malformed XDR: c length 5 exceeds 4");
        assertThatThrownBy(() -> XdrReader.readOpaque(ByteBuffer.wrap(hex("00000005 01020304 05")), 4, "d"))
                .isInstanceOf(ProtocolException.class).hasMessage("malformed XDR: d length 5 exceeds 4");
    }

    @Test
    void arraysOptionalsAndUnionsCompose() {
        final XdrCodec<List<String>> names = XdrCodec.array(XdrCodec.STRING, 10);
        final XdrCodec<Long> maybe = XdrCodec.optional(XdrCodec.HYPER);
        final List<String> v = List.of("a", "bcde", "");
        final ByteBuffer b = ByteBuffer.allocate(names.size(v) + maybe.size(null) + maybe.size(7L));
        names.write(v, b);
        maybe.write(null, b);
        maybe.write(7L, b);
        assertThat(b.hasRemaining()).isFalse();
        assertThat(b.array()).containsExactly(hex(
                "00000003 00000001 61000000 00000004 62636465 00000000 00000000 00000001 00000000 00000007"));
        b.flip();
        assertThat(names.read(b)).containsExactly("a", "bcde", "");
        assertThat(maybe.read(b)).isNull();
        assertThat(maybe.read(b)).isEqualTo(7L);

        // union switch (int kind) { case 0: int i; case 1: string s; }
        final XdrCodec<Object> u = XdrCodec.union(o -> o instanceof Integer ? 0 : 1,
                d -> switch (d) {
                    case 0 -> XdrCodec.INT;
                    case 1 -> XdrCodec.STRING;
                    default -> null;
                });
        final ByteBuffer ub = ByteBuffer.allocate(u.size(5) + u.size("xy"));
        u.write(5, ub);
        u.write("xy", ub);
        assertThat(ub.array()).containsExactly(hex("00000000 00000005 00000001 00000002 78790000"));
        ub.flip();
        assertThat(u.read(ub)).isEqualTo(5);
        assertThat(u.read(ub)).isEqualTo("xy");
        assertThatThrownBy(() -> u.read(ByteBuffer.wrap(hex("00000002 00000000"))))
                .isInstanceOf(ProtocolException.class).hasMessage("malformed XDR: union has no arm for discriminant 2");

        final XdrCodec<List<Integer>> three = XdrCodec.fixedArray(XdrCodec.INT, 3);
        final ByteBuffer fb = ByteBuffer.allocate(three.size(List.of(1, 2, 3)));
        three.write(List.of(1, 2, 3), fb);
        assertThat(fb.array()).containsExactly(hex("00000001 00000002 00000003"));
        assertThat(three.read(fb.flip())).containsExactly(1, 2, 3);
        assertThatThrownBy(() -> three.write(List.of(1), ByteBuffer.allocate(12)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void arrayCountsAreCheckedBeforeAnythingIsAllocated() {
        // a count of 2^30 with 4 bytes left: refused on the count, no list of a billion slots
        assertThatThrownBy(() -> XdrReader.readArray(ByteBuffer.wrap(hex("40000000 00000001")), XdrCodec.INT,
                Integer.MAX_VALUE, "ids")).isInstanceOf(ProtocolException.class)
                .hasMessage("malformed XDR: ids count 1073741824 needs at least 4294967296 bytes, 4 left");
        assertThatThrownBy(() -> XdrReader.readArray(ByteBuffer.wrap(hex("00000003")), XdrCodec.INT, 2, "ids"))
                .isInstanceOf(ProtocolException.class).hasMessage("malformed XDR: ids count 3 exceeds 2");
        assertThatThrownBy(() -> XdrReader.readArray(ByteBuffer.wrap(hex("ffffffff")), XdrCodec.INT, 10, "ids"))
                .isInstanceOf(ProtocolException.class).hasMessage("malformed XDR: ids count 4294967295 exceeds 10");
        // an opaque whose length plus padding overflows an int is still just "too long"
        assertThatThrownBy(() -> XdrReader.readOpaque(ByteBuffer.wrap(hex("7fffffff")), Integer.MAX_VALUE, "o"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("o needs 2147483648 bytes, 0 left");
    }

    @Test
    void stringsAreEncodedInPlaceExactlyAsTheJdkEncodesThem() {
        for (String s : new String[]{"", "a", "héé", "€uro", "😀!", "a\uD800b", "\uDC00"}) {
            final byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            assertThat(XdrWriter.utf8Length(s)).as(s).isEqualTo(utf8.length);
            final ByteBuffer b = ByteBuffer.allocate(XdrWriter.sizeOfString(s));
            XdrWriter.writeString(b, s);
            assertThat(b.hasRemaining()).isFalse();
            b.flip();
            assertThat(XdrReader.readInt(b)).isEqualTo(utf8.length);
            final byte[] got = new byte[utf8.length];
            b.get(got);
            assertThat(got).as(s).containsExactly(utf8);
        }
        // direct buffers read the same way as heap ones
        final ByteBuffer d = ByteBuffer.allocateDirect(16);
        XdrWriter.writeString(d, "日本");
        assertThat(XdrReader.readString(d.flip())).isEqualTo("日本");
        assertThat(XdrCodec.string(3).size("abcd")).isEqualTo(8);
        assertThatThrownBy(() -> XdrCodec.string(3).read(ByteBuffer.wrap(hex("00000004 61626364"))))
                .isInstanceOf(ProtocolException.class).hasMessage("malformed XDR: string length 4 exceeds 3");
    }

    @Test
    void limitsRefuseNonsense() {
        assertThatThrownBy(() -> new XdrLimits(-1, 0, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThat(XdrLimits.DEFAULT.maxString()).isEqualTo(4_194_304);
    }

    @Test
    void padRoundsUpToFour() {
        assertThat(XdrWriter.pad(0)).isZero();
        assertThat(XdrWriter.pad(1)).isEqualTo(3);
        assertThat(XdrWriter.pad(2)).isEqualTo(2);
        assertThat(XdrWriter.pad(3)).isEqualTo(1);
        assertThat(XdrWriter.pad(4)).isZero();
        assertThat(XdrWriter.sizeOfOpaque(0)).isEqualTo(4);
        assertThat(XdrWriter.sizeOfOpaque(5)).isEqualTo(12);
    }

    @Test
    void writesStringsWithZeroPadding() {
        final ByteBuffer b = ByteBuffer.allocate(12);
        for (int i = 0; i < 12; i++) {
            b.put(i, (byte) 0xee); // padding must be written, not left as it was
        }
        XdrWriter.writeString(b, "héé"); // 5 UTF-8 bytes
        assertThat(b.position()).isEqualTo(12);
        assertThat(b.array()).containsExactly(hex("00000005 68c3a9c3 a9000000"));
    }

    @Test
    void writesOptionalStrings() {
        final ByteBuffer b = ByteBuffer.allocate(16);
        XdrWriter.writeOptionalString(b, null);
        XdrWriter.writeOptionalString(b, "");
        XdrWriter.writeOptionalString(b, null);
        assertThat(b.position()).isEqualTo(16);
        assertThat(b.array()).containsExactly(hex("00000000 00000001 00000000 00000000"));
        assertThat(XdrWriter.sizeOfOptionalString(null)).isEqualTo(4);
        assertThat(XdrWriter.sizeOfOptionalString("")).isEqualTo(8);
        assertThat(XdrWriter.sizeOfOptionalString("abcde")).isEqualTo(16);
    }

    @Test
    void readsWhatItWrites() {
        final ByteBuffer b = ByteBuffer.allocate(64);
        XdrWriter.writeString(b, "x");
        XdrWriter.writeOptionalString(b, null);
        XdrWriter.writeOptionalString(b, "日本");
        XdrWriter.writeFixedOpaque(b, new byte[]{1, 2, 3, 4, 5});
        b.putLong(-2L);
        b.flip();
        assertThat(XdrReader.readString(b, "a")).isEqualTo("x");
        assertThat(XdrReader.readOptionalString(b, "b")).isNull();
        assertThat(XdrReader.readOptionalString(b, "c")).isEqualTo("日本");
        assertThat(XdrReader.readFixedOpaque(b, 5, "d")).containsExactly(1, 2, 3, 4, 5);
        assertThat(XdrReader.readHyper(b, "e")).isEqualTo(-2L);
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void boolMustBeZeroOrOne() {
        assertThat(XdrReader.readBool(ByteBuffer.wrap(hex("00000000")), "flag")).isFalse();
        assertThat(XdrReader.readBool(ByteBuffer.wrap(hex("00000001")), "flag")).isTrue();
        assertThatThrownBy(() -> XdrReader.readBool(ByteBuffer.wrap(hex("00000002")), "flag"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("flag is a bool but holds 2");
    }

    @Test
    void rejectsStringLengthsBeyondTheLimitOrNegativeWithoutAllocating() {
        assertThatThrownBy(() -> XdrReader.readString(ByteBuffer.wrap(hex("00400001")), "name"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("exceeds " + XdrLimits.LIBVIRT_MAX_STRING);
        assertThatThrownBy(() -> XdrReader.readString(ByteBuffer.wrap(hex("ffffffff")), "name"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("4294967295");
        assertThatThrownBy(() -> XdrReader.readString(ByteBuffer.wrap(hex("80000000")), "name"))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void rejectsTruncatedInput() {
        assertThatThrownBy(() -> XdrReader.readInt(ByteBuffer.wrap(hex("000000")), "i"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("i needs 4 bytes, 3 left");
        assertThatThrownBy(() -> XdrReader.readHyper(ByteBuffer.wrap(hex("00000000 000000")), "h"))
                .isInstanceOf(ProtocolException.class);
        // the string is there but its padding is not
        assertThatThrownBy(() -> XdrReader.readString(ByteBuffer.wrap(hex("00000001 41")), "s"))
                .isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> XdrReader.readFixedOpaque(ByteBuffer.wrap(hex("01020304 05")), 6, "o"))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void utf8LengthOfEachForm() {
        assertThat(XdrWriter.utf8Length("")).isZero();
        assertThat(XdrWriter.utf8Length("a\u0000")).isEqualTo(2);
        assertThat(XdrWriter.utf8Length("é")).isEqualTo(2);
        assertThat(XdrWriter.utf8Length("€")).isEqualTo(3);
        assertThat(XdrWriter.utf8Length("😀")).isEqualTo(4);
    }
}
