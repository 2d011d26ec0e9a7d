package dev.braid.tooling;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LatencyChartTest {
    private static final LatencyChart.Legend LEGEND =
            new LatencyChart.Legend("backend", "calls alone", "beside 4 streams");

    @Test
    void pngAndSvgFromOneLayout(@TempDir final Path dir) throws IOException {
        final LatencyChart chart = new LatencyChart("title", "subtitle", LEGEND, List.of(
                new LatencyChart.Series("nio", false, new double[] {20, 30, 60, 400, 900}),
                new LatencyChart.Series("nio", true, new double[] {200, 900, 2000, 5000, 9000}),
                new LatencyChart.Series("epoll", false, new double[] {15, 25, Double.NaN, 300, 800})));
        assertThat(chart.hasData()).isTrue();
        final Path png = dir.resolve("img/chart.png");
        chart.writePng(png);
        final BufferedImage image = ImageIO.read(png.toFile());
        assertThat(image.getWidth()).isEqualTo(LatencyChart.WIDTH);
        assertThat(image.getHeight()).isEqualTo(LatencyChart.HEIGHT);
        final String svg = chart.svg();
        assertThat(svg).startsWith("<svg").contains("nio", "epoll", "stroke-dasharray", "p99.99", "10 ms",
                "µs (log scale)", "calls alone", "beside 4 streams").doesNotContain(">max<");
        chart.writeSvg(dir.resolve("img/chart.svg"));
        assertThat(Files.readString(dir.resolve("img/chart.svg"))).isEqualTo(svg);
    }

    @Test
    void aSixthValueIsTheMaximumColumn() {
        final LatencyChart chart = new LatencyChart("t", "s", LEGEND,
                List.of(new LatencyChart.Series("loom", false, new double[] {20, 30, 60, 400, 900, 12_000})));
        assertThat(chart.svg()).contains(">max<");
    }

    @Test
    void noPointsNoData() {
        assertThat(new LatencyChart("t", "s", LEGEND, List.of(
                new LatencyChart.Series("x", false, new double[] {Double.NaN, 0, 0, 0, 0}))).hasData()).isFalse();
    }

    @Test
    void anUnwritablePathIsOneIOException(@TempDir final Path dir) throws IOException {
        final Path file = Files.createFile(dir.resolve("file"));
        final LatencyChart chart = new LatencyChart("t", "s", LEGEND,
                List.of(new LatencyChart.Series("x", false, new double[] {1, 2, 3, 4, 5})));
        assertThatThrownBy(() -> chart.writePng(file.resolve("chart.png"))).isInstanceOf(IOException.class);
    }

    @Test
    void axisLabels() {
        assertThat(LatencyChart.micros(10)).isEqualTo("10 µs");
        assertThat(LatencyChart.micros(1000)).isEqualTo("1 ms");
        assertThat(LatencyChart.micros(2_000_000)).isEqualTo("2 s");
        assertThat(LatencyChart.micros(0.5)).isEqualTo("500 ns");
    }
}
