package dev.braid.stress.link;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;

/** Frame boundaries followed across arbitrary chunk boundaries, and where a cut falls. */
class FrameCursorTest {

    /** Frames of the given lengths, each starting with its big-endian length word. */
    private static byte[] frames(final int... lengths) {
        int total = 0;
        for (int l : lengths) {
            total += l;
        }
        final ByteBuffer b = ByteBuffer.allocate(total);
        for (int l : lengths) {
            b.putInt(l);
            b.put(new byte[l - 4]);
        }
        return b.array();
    }

    @Test
    void aCutFallsAtTheMiddleOfTheFirstLongEnoughFrameWhateverTheChunking() {
        final byte[] stream = frames(28, 100, 28, 1000, 28);
        for (int chunk = 1; chunk <= stream.length; chunk++) {
            final FrameCursor c = new FrameCursor();
            FrameCut cut = null;
            for (int off = 0; off < stream.length && cut == null; off += chunk) {
                final int n = Math.min(chunk, stream.length - off);
                cut = c.cutPoint(stream, off, n, 500);
                if (cut == null) {
                    c.advance(stream, off, n);
                }
            }
            assertThat(cut).as("chunk %d", chunk).isNotNull();
            assertThat(cut.frameStart()).isEqualTo(156);
            assertThat(cut.frameLength()).isEqualTo(1000);
            assertThat(cut.inside()).isTrue();
        }
    }

    @Test
    void aFrameAlreadyPartlyPassedIsCutWhereTheCursorStands() {
        final byte[] stream = frames(1000, 28);
        final FrameCursor c = new FrameCursor();
        c.advance(stream, 0, 700); // past the middle already
        final FrameCut cut = c.cutPoint(stream, 700, stream.length - 700, 500);
        assertThat(cut.offset()).isEqualTo(700);
        assertThat(cut.inside()).isTrue();
    }

    @Test
    void noFrameLongEnoughMeansNoCut() {
        final byte[] stream = frames(28, 100, 28);
        assertThat(new FrameCursor().cutPoint(stream, 0, stream.length, 500)).isNull();
    }
}
