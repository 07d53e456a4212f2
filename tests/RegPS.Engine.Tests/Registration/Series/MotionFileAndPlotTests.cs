using System.Globalization;
using System.Text.Json;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.Tests.Rendering;
using RegPS.Rendering;

namespace RegPS.Engine.Tests.Registration.Series;

/// <summary>The BIDS TSV + JSON, FSL .par and SPM rp_ files read back, and the QC plot's pixels.</summary>
public sealed class MotionFileAndPlotTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-motion-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Distinct, known values: volume t has trans (t+0.1, -(t+0.2), t+0.3) mm and rot (0.01t, -0.02t, 0.03t) rad.</summary>
    private static MotionParameters[] Known(int n) => Enumerable.Range(0, n).Select(t =>
        new MotionParameters(t, t + 0.1, -(t + 0.2), t + 0.3, 0.01 * t, -0.02 * t, 0.03 * t,
            t == 0 ? double.NaN : 1.5 + t, 2.0 * t, t == 0 ? double.NaN : 0.5)).ToArray();

    private static double[][] ReadNumbers(string path, bool header, out string[]? columns)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        columns = header ? lines[0].Split('\t') : null;
        return lines.Skip(header ? 1 : 0).Select(l => l.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries)
            .Select(x => x == "n/a" ? double.NaN : double.Parse(x, CultureInfo.InvariantCulture)).ToArray()).ToArray();
    }

    [Fact]
    public void BidsTsvHasTheConfoundColumnsAndNaForTheFirstFd()
    {
        var p = Known(5);
        string tsv = Path.Combine(_dir, "sub-01_task-rest_desc-confounds_timeseries.tsv");
        MotionParameterFile.Write(p, tsv, MotionFileFormat.Bids);
        Assert.StartsWith("trans_x\ttrans_y\ttrans_z\trot_x\trot_y\trot_z\tframewise_displacement\n", File.ReadAllText(tsv));
        var rows = ReadNumbers(tsv, true, out var cols);
        Assert.Equal(new[] { "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "framewise_displacement" }, cols);
        Assert.Equal(5, rows.Length);
        Assert.Equal("n/a", File.ReadAllLines(tsv)[1].Split('\t')[6]);
        for (int t = 0; t < 5; t++)
        {
            Assert.Equal(new[] { t + 0.1, -(t + 0.2), t + 0.3, 0.01 * t, -0.02 * t, 0.03 * t }, rows[t][..6]);
            if (t > 0) Assert.Equal(1.5 + t, rows[t][6]);
        }
        string json = MotionParameterFile.SidecarPath(tsv);
        Assert.EndsWith("desc-confounds_timeseries.json", json);
        MotionParameterFile.WriteSidecar(null, json);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("mm", doc.RootElement.GetProperty("trans_y").GetProperty("Units").GetString());
        Assert.Equal("rad", doc.RootElement.GetProperty("rot_z").GetProperty("Units").GetString());
        Assert.Equal("mm", doc.RootElement.GetProperty("framewise_displacement").GetProperty("Units").GetString());
    }

    [Fact]
    public void FslParIsRotationsThenTranslations()
    {
        string par = Path.Combine(_dir, "bold_mcf.par");
        MotionParameterFile.Write(Known(4), par, MotionFileFormat.Fsl);
        var rows = ReadNumbers(par, false, out _);
        Assert.Equal(4, rows.Length);
        for (int t = 0; t < 4; t++)
            Assert.Equal(new[] { 0.01 * t, -0.02 * t, 0.03 * t, t + 0.1, -(t + 0.2), t + 0.3 }, rows[t]);
    }

    [Fact]
    public void SpmRpIsTranslationsThenPitchRollYaw()
    {
        string rp = Path.Combine(_dir, "rp_bold.txt");
        MotionParameterFile.Write(Known(4), rp, MotionFileFormat.Spm);
        var rows = ReadNumbers(rp, false, out _);
        Assert.Equal(4, rows.Length);
        for (int t = 0; t < 4; t++)
            Assert.Equal(new[] { t + 0.1, -(t + 0.2), t + 0.3, 0.01 * t, -0.02 * t, 0.03 * t }, rows[t]);
    }

    [Fact]
    public void WritingRefusesToOverwriteWithoutTheFlag()
    {
        string par = Path.Combine(_dir, "x.par");
        MotionParameterFile.Write(Known(3), par, MotionFileFormat.Fsl);
        var e = Assert.Throws<IOException>(() => MotionParameterFile.Write(Known(2), par, MotionFileFormat.Fsl));
        Assert.Contains("x.par", e.Message);
        MotionParameterFile.Write(Known(2), par, MotionFileFormat.Fsl, overwrite: true);
        Assert.Equal(2, File.ReadAllLines(par).Length);
        Assert.Equal(MotionFileFormat.Bids, MotionParameterFile.FormatFromPath("a/b_timeseries.TSV"));
        Assert.Equal(MotionFileFormat.Fsl, MotionParameterFile.FormatFromPath("a.par"));
        Assert.Equal(MotionFileFormat.Spm, MotionParameterFile.FormatFromPath("rp_a.txt"));
        Assert.Null(MotionParameterFile.FormatFromPath("a.csv"));
    }

    [Fact]
    public void PlotShowsTheThresholdAndTheSpikeAboveItAtItsVolume()
    {
        // 30 volumes: x jumps by 2 mm at volume 20 (FD 2 there, 0.05 elsewhere), y sits at -1 mm, z at 0, a slow rotation drift.
        int n = 30, spike = 20;
        var p = Enumerable.Range(0, n).Select(t => new MotionParameters(t, t >= spike ? 2 : 0, -1, 0, 0.001 * t, 0, 0,
            t == 0 ? double.NaN : (t == spike ? 2 : 0.05), 0, 0)).ToArray();
        string png = Path.Combine(_dir, "motion.png");
        MotionPlot.WritePng(p, png, new MotionPlotOptions { Width = 600, Height = 450, Title = "sub-01_task-rest_bold.nii.gz" });
        var px = PngPixels.Load(png);
        Assert.Equal(600, px.Width);
        Assert.Equal(450, px.Height);

        static bool Near((byte R, byte G, byte B) c, SkiaSharp.SKColor k, int tol = 40) =>
            Math.Abs(c.R - k.Red) <= tol && Math.Abs(c.G - k.Green) <= tol && Math.Abs(c.B - k.Blue) <= tol;

        // The longest horizontal run of pixels near a colour in rows [y0, y1): (row, first column, last column).
        (int Row, int First, int Last) LongestRun(SkiaSharp.SKColor colour, int tol, int y0, int y1)
        {
            var best = (Row: -1, First: 0, Last: -1);
            for (int y = y0; y < y1; y++)
                for (int x = 0, start = -1; x <= px.Width; x++)
                {
                    bool on = x < px.Width && Near(px[x, y], colour, tol);
                    if (on && start < 0) start = x;
                    if (!on && start >= 0)
                    {
                        if (x - 1 - start > best.Last - best.First) best = (y, start, x - 1);
                        start = -1;
                    }
                }
            return best;
        }

        // The threshold line: the longest orange run, in the bottom third, across most of the plot (the FD panel's data
        // area; the legend takes the right of the picture). The FD curve crosses it twice, so allow two short gaps.
        var (bestRow, _, _) = LongestRun(MotionPlot.ThresholdColour, 20, px.Height * 2 / 3, px.Height);
        int first = -1, last = -1, orange = 0;
        for (int x = 0; x < px.Width; x++)
            if (Near(px[x, bestRow], MotionPlot.ThresholdColour, 20) && (first < 0 || x - last < 12)) { if (first < 0) first = x; last = x; orange++; }
        Assert.True(bestRow > px.Height * 2 / 3, $"threshold at row {bestRow}");
        Assert.True(last - first > 0.6 * px.Width, $"threshold line from column {first} to {last}");
        Assert.True(orange > 0.95 * (last - first + 1) - 12, $"threshold line has {orange} orange pixels between {first} and {last}");

        // The FD panel's frame: the longest dark run above the threshold line in the bottom third; inside it, between the
        // frame and the threshold, the black FD curve rises only around the spike's column, and the volume there is marked.
        var frame = LongestRun(MotionPlot.FdColour, 60, px.Height * 2 / 3 - 20, bestRow - 3);
        Assert.True(frame.Last - frame.First >= last - first - 4, $"FD panel frame at row {frame.Row} from {frame.First} to {frame.Last}");
        double expected = first + (last - first) * spike / (double)(n - 1);
        double step = (last - first) / (double)(n - 1);
        var aboveColumns = new List<int>();
        var markColumns = new List<int>();
        for (int y = frame.Row + 3; y < bestRow - 3; y++)
            for (int x = first + 3; x <= last - 3; x++)
            {
                if (Near(px[x, y], MotionPlot.FdColour, 60)) aboveColumns.Add(x);
                if (Near(px[x, y], MotionPlot.AboveColour, 30)) markColumns.Add(x);
            }
        Assert.NotEmpty(aboveColumns);
        Assert.All(aboveColumns, x => Assert.InRange(x, expected - 1.2 * step, expected + 1.2 * step));
        Assert.True(markColumns.Count > 10, $"{markColumns.Count} pixels mark the volume above the threshold");
        Assert.All(markColumns, x => Assert.InRange(x, expected - 0.5 * step, expected + 0.5 * step));

        // Translations: the three lines in the top third, and at the first column green (y = -1) below blue (z = 0).
        int red = 0, green = 0, blue = 0;
        for (int y = 0; y < px.Height / 3; y++)
            for (int x = 0; x < px.Width; x++)
            {
                var c = px[x, y];
                if (Near(c, MotionPlot.XColour)) red++;
                if (Near(c, MotionPlot.YColour)) green++;
                if (Near(c, MotionPlot.ZColour)) blue++;
            }
        Assert.True(red > 100 && green > 100 && blue > 100, $"translation lines: red {red}, green {green}, blue {blue}");
        int col = first + 3, greenRow = -1, blueRow = -1;
        for (int y = 0; y < px.Height / 3; y++)
        {
            if (greenRow < 0 && Near(px[col, y], MotionPlot.YColour)) greenRow = y;
            if (blueRow < 0 && Near(px[col, y], MotionPlot.ZColour)) blueRow = y;
        }
        Assert.True(greenRow > blueRow && blueRow > 0, $"y line at row {greenRow}, z line at row {blueRow}");

        // Text is drawn (the module's font, as on a machine without system fonts; SkiaSharp's NoDependencies build sees
        // none): dark pixels left of the data areas (tick labels, axis labels) and in the title's rows above the top panel.
        int Dark(int x0, int x1, int y0, int y1)
        {
            int count = 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    if (px[x, y].R < 140 && px[x, y].G < 140 && px[x, y].B < 140) count++;
            return count;
        }
        Assert.True(Dark(0, first - 8, 0, px.Height) > 100, $"{Dark(0, first - 8, 0, px.Height)} dark pixels of axis text left of the plots");
        int topFrame = Enumerable.Range(0, px.Height / 3).First(y => Dark(first, last, y, y + 1) > (last - first) / 2);
        Assert.True(Dark(first, last, 0, topFrame - 2) > 40, $"{Dark(first, last, 0, topFrame - 2)} dark pixels of title text above row {topFrame}");
    }

    [Fact]
    public void PlotRendersAtTheSmallestAndALargeSizeWithSecondsOnTheTimeAxis()
    {
        var p = Enumerable.Range(0, 12).Select(t => new MotionParameters(t, 0.1 * t, 0, 0, 0, 0.002 * t, 0, t == 0 ? double.NaN : 0.1, 0, 0)).ToArray();
        foreach (var (w, h) in new[] { (200, 150), (1600, 1000) })
        {
            string png = Path.Combine(_dir, $"motion-{w}.png");
            MotionPlot.WritePng(p, png, new MotionPlotOptions { Width = w, Height = h, RepetitionTime = 2.5, Title = "run" });
            var px = PngPixels.Load(png);
            Assert.Equal((w, h), (px.Width, px.Height));
        }
        Assert.Throws<ArgumentException>(() => MotionPlot.Render(p, new MotionPlotOptions { Width = 199 }));
        Assert.Throws<ArgumentException>(() => MotionPlot.Render(p[..1]));
    }

    [Fact]
    public void PlotTextUsesTheModulesFontSoItNeedsNoSystemFonts()
    {
        // On a machine without system fonts ScottPlot's default font draws nothing; the plot registers the module's
        // DejaVu Sans Mono (copied next to the assembly, as the module ships it) under its own name and uses that.
        var p = Enumerable.Range(0, 5).Select(t => new MotionParameters(t, 0, 0, 0, 0, 0, 0, t == 0 ? double.NaN : 0.1, 0, 0)).ToArray();
        using var _ = MotionPlot.Render(p);
        Assert.NotNull(Fonts.Path);
        Assert.StartsWith(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar), Fonts.Path);
        using var face = ScottPlot.Fonts.GetTypeface(MotionPlot.FontName, bold: false, italic: false);
        Assert.Equal("DejaVu Sans Mono", face.FamilyName);
        Assert.True(face.ContainsGlyphs("translation (mm) FD 0.5"));
    }
}
