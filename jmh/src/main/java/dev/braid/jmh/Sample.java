package dev.braid.jmh;

import dev.braid.xdr.XdrCodec;
import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;

import java.nio.ByteBuffer;

/**
 * The typed benchmarks' message, an XDR struct of primitives, mutable so that it can be decoded into:
 * <pre>struct sample { int id; hyper value; double score; bool flag; };   // 24 bytes</pre>
 * Its codec fills the object it is given ({@link #read(ByteBuffer, Sample)}), which is what makes the typed
 * paths allocation-free end to end.
 */
final class Sample {
    int id;
    long value;
    double score;
    boolean flag;

    static final XdrCodec<Sample> CODEC = new XdrCodec<>() {
        @Override
        public int size(final Sample s) {
            return 24;
        }

        @Override
        public void write(final Sample s, final ByteBuffer dst) {
            XdrWriter.writeInt(dst, s.id);
            XdrWriter.writeHyper(dst, s.value);
            XdrWriter.writeDouble(dst, s.score);
            XdrWriter.writeBool(dst, s.flag);
        }

        @Override
        public Sample read(final ByteBuffer src) {
            return read(src, null);
        }

        @Override
        public Sample read(final ByteBuffer src, final Sample reuse) {
            final Sample s = reuse != null ? reuse : new Sample();
            s.id = XdrReader.readInt(src, "id");
            s.value = XdrReader.readHyper(src, "value");
            s.score = XdrReader.readDouble(src);
            s.flag = XdrReader.readBool(src, "flag");
            return s;
        }
    };
}
