using RegPS.Engine.Images;
using RegPS.Rendering;

namespace RegPS.Engine.Tests.Rendering;

public sealed class DeformationGridTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-grid-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private const int NX = 40, NY = 32, S = 3;
    private static readonly (byte, byte, byte) Yellow = (255, 255, 0), Black = (0, 0, 0);

    // Lattice lines start at ((N - 1) mod 8) / 2 = 3 for both 40 and 32 voxels, every 8 voxels:
    // x = 3, 11, 19, 27, 35 and y = 3, 11, 19, 27. Voxel v is drawn in pixel v * 3 + 1.
    private static readonly int[] LatticeX = { 3, 11, 19, 27, 35 };
    private static readonly int[] LatticeY = { 3, 11, 19, 27 };

    private static PngPixels Draw(Grid g, float[] dx, float[] dy, DeformationGridOptions? o = null) =>
        PngPixels.FromBitmap(DeformationGrid.Render(g, dx, dy, o ?? new DeformationGridOptions { Scale = S }));

    private static int[] LineColumns(PngPixels px, int row)
    {
        var cols = new List<int>();
        for (int x = 0; x < px.Width; x++)
        {
            var c = px[x, row];
            if (c == Yellow) cols.Add(x);
            else Assert.True(c == Black, $"pixel ({x}, {row}) is {c}, neither line nor background");
        }
        return cols.ToArray();
    }

    private static int[] LineRows(PngPixels px, int column)
    {
        var rows = new List<int>();
        for (int y = 0; y < px.Height; y++)
        {
            var c = px[column, y];
            if (c == Yellow) rows.Add(y);
            else Assert.True(c == Black, $"pixel ({column}, {y}) is {c}, neither line nor background");
        }
        return rows.ToArray();
    }

    [Fact]
    public void Zero_field_gives_straight_evenly_spaced_lines()
    {
        var g = Grid.Create2D(NX, NY);
        var px = Draw(g, new float[NX * NY], new float[NX * NY]);
        Assert.Equal((NX * S, NY * S), (px.Width, px.Height));
        int[] expectCols = LatticeX.Select(x => x * S + 1).ToArray();
        int[] expectRows = LatticeY.Select(y => y * S + 1).ToArray();
        // Every pixel row between the lattice rows crosses exactly the vertical lines, and vice versa.
        for (int row = 2; row < NY * S - 2; row++)
            if (!expectRows.Contains(row)) Assert.Equal(expectCols, LineColumns(px, row));
        for (int col = 2; col < NX * S - 2; col++)
            if (!expectCols.Contains(col)) Assert.Equal(expectRows, LineRows(px, col));

        // Anti-aliased, the lines are in the same pixels (at 75% or more of the colour), and nothing else is lit.
        var aa = PngPixels.FromBitmap(DeformationGrid.Render(g, new float[NX * NY], new float[NX * NY], new DeformationGridOptions { Scale = S, Antialias = true }));
        for (int row = 2; row < NY * S - 2; row++)
        {
            if (expectRows.Contains(row)) continue;
            var lit = Enumerable.Range(0, NX * S).Where(x => aa[x, row] != Black).ToArray();
            Assert.Equal(expectCols, lit);
            Assert.All(lit, x => Assert.True(aa[x, row].Item1 >= 191 && aa[x, row].Item1 == aa[x, row].Item2 && aa[x, row].Item3 == 0));
        }
    }

    [Fact]
    public void Uniform_shift_moves_every_line_by_shift_times_scale()
    {
        var g = Grid.Create2D(NX, NY);
        var dx = Enumerable.Repeat(3f, NX * NY).ToArray();
        var px = Draw(g, dx, new float[NX * NY]);
        int[] expectCols = LatticeX.Select(x => (x + 3) * S + 1).ToArray();
        Assert.Equal(expectCols, LineColumns(px, 7 * S + 1));   // a row between horizontal lines
        Assert.Equal(expectCols, LineColumns(px, 23 * S + 1));
        // Horizontal lines keep their rows but now start 3 voxels further right.
        int[] expectRows = LatticeY.Select(y => y * S + 1).ToArray();
        Assert.Equal(expectRows, LineRows(px, 20 * S));
        Assert.Equal(Black, px[2 * S + 1, LatticeY[0] * S + 1]);  // left of the shifted start: empty

        // A 3D slice grid is drawn with y increasing upwards: a shift of +2 in y moves the horizontal lines 2 * S pixels up.
        var g3 = Grid.Create3D(NX, NY, 1);
        var zero = Draw(g3, new float[NX * NY], new float[NX * NY]);
        var up = Draw(g3, new float[NX * NY], Enumerable.Repeat(2f, NX * NY).ToArray());
        int[] zeroRows = LineRows(zero, 20 * S);
        Assert.Equal(LatticeY.Select(y => (NY - 1 - y) * S + 1).Reverse().ToArray(), zeroRows);
        Assert.Equal(zeroRows.Select(r => r - 2 * S).ToArray(), LineRows(up, 20 * S));
    }

    [Fact]
    public void A_bump_bends_lines_only_near_the_bump()
    {
        // dx = 3 (1 - r^2 / 36)^2 inside r < 6 voxels of (19, 15), zero outside: a compact push to the right
        // centred on the vertical line x = 19, between the horizontal lines y = 11 and 19.
        var g = Grid.Create2D(NX, NY);
        var dx = new float[NX * NY];
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++)
            {
                double r2 = (x - 19) * (x - 19) + (y - 15) * (y - 15);
                if (r2 < 36) dx[y * NX + x] = (float)(3 * Math.Pow(1 - r2 / 36, 2));
            }
        var zero = Draw(g, new float[NX * NY], new float[NX * NY]);
        var bent = Draw(g, dx, new float[NX * NY]);

        // The line x = 19 at y = 15 is pushed by the full 3 voxels: it crosses that pixel row at column (19 + 3) * 3 + 1.
        Assert.Equal(LatticeX.Select(x => x == 19 ? 22 * S + 1 : x * S + 1).ToArray(), LineColumns(bent, 15 * S + 1));

        // Outside the bump's footprint (r >= 6 voxels, plus a pixel of margin for anti-aliasing and the line width) the
        // picture is the undisturbed lattice, pixel for pixel. Inside, it differs.
        int differencesInside = 0;
        for (int py = 0; py < NY * S; py++)
            for (int pxl = 0; pxl < NX * S; pxl++)
            {
                // Displaced points lie within the bump disc moved right by at most 3 voxels.
                double vx = (pxl - 1.0) / S, vy = (py - 1.0) / S;
                double near = Math.Min(Dist(vx, vy, 19, 15), Math.Min(Dist(vx, vy, 20.5, 15), Dist(vx, vy, 22, 15)));
                if (near >= 6 + 1.0) Assert.True(zero[pxl, py] == bent[pxl, py], $"pixel ({pxl}, {py}) changed far from the bump");
                else if (zero[pxl, py] != bent[pxl, py]) differencesInside++;
            }
        Assert.True(differencesInside > 20, $"the bump changed only {differencesInside} pixels");
    }

    private static double Dist(double x, double y, double cx, double cy) => Math.Sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));

    [Fact]
    public void Underlay_is_drawn_at_the_chosen_opacity_in_the_same_orientation()
    {
        var g = Grid.Create2D(NX, NY);
        var u = new float[NX * NY];
        u[5 * NX + 6] = 10;   // one bright voxel at (6, 5), off every lattice line
        u[6 * NX + 7] = 5;    // half as bright at (7, 6)
        var px = Draw(g, new float[NX * NY], new float[NX * NY], new DeformationGridOptions { Scale = S, Underlay = new Image(g, u) });
        Assert.Equal(((byte)128, (byte)128, (byte)128), px[6 * S, 5 * S]);       // 10 / 10 * 255 * 0.5 = 127.5 -> 128
        Assert.Equal(((byte)128, (byte)128, (byte)128), px[6 * S + 2, 5 * S + 2]);
        Assert.Equal(((byte)64, (byte)64, (byte)64), px[7 * S, 6 * S]);          // 63.75 -> 64
        Assert.Equal(Black, px[6 * S, 6 * S]);
        Assert.Equal(Yellow, px[3 * S + 1, 5 * S]);                              // lines are drawn over it

        var other = new Image(Grid.Create2D(NX + 1, NY), new float[(NX + 1) * NY]);
        Assert.Throws<ArgumentException>(() => DeformationGrid.Render(g, new float[NX * NY], new float[NX * NY], new DeformationGridOptions { Underlay = other }));
    }

    [Fact]
    public void Bilinear_sampling_reproduces_a_linear_field_and_clamps_at_the_border()
    {
        var dx = new float[NX * NY];
        var dy = new float[NX * NY];
        for (int y = 0; y < NY; y++) for (int x = 0; x < NX; x++) { dx[y * NX + x] = 0.5f * x + 0.25f * y; dy[y * NX + x] = -x + 2 * y; }
        var (ux, uy) = DeformationGrid.Sample(dx, dy, NX, NY, 2.5, 3.25);
        Assert.Equal(0.5 * 2.5 + 0.25 * 3.25, ux, 1e-12);
        Assert.Equal(-2.5 + 2 * 3.25, uy, 1e-12);
        (ux, _) = DeformationGrid.Sample(dx, dy, NX, NY, NX + 5, -3);
        Assert.Equal(0.5 * (NX - 1), ux, 1e-12);
    }

    [Fact]
    public void Bad_inputs_are_refused_and_writes_are_atomic()
    {
        var g = Grid.Create2D(NX, NY);
        var z = new float[NX * NY];
        Assert.Throws<ArgumentException>(() => DeformationGrid.Render(g, new float[10], z));
        Assert.Throws<ArgumentException>(() => DeformationGrid.Render(Grid.Create3D(NX, NY, 2), new float[NX * NY * 2], new float[NX * NY * 2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => DeformationGrid.Render(g, z, z, new DeformationGridOptions { LineSpacing = 0 }));

        string missing = Path.Combine(_dir, "none", "g.png");
        Assert.ThrowsAny<IOException>(() => DeformationGrid.WritePng(g, z, z, missing));
        Assert.False(File.Exists(missing));
        string path = Path.Combine(_dir, "g.png");
        DeformationGrid.WritePng(g, z, z, path, new DeformationGridOptions { Scale = 1 });
        var ex = Assert.Throws<IOException>(() => DeformationGrid.WritePng(g, z, z, path));
        Assert.Contains(path, ex.Message);
        Assert.Equal(NX, PngPixels.Load(path).Width);
        DeformationGrid.WritePng(g, z, z, path, new DeformationGridOptions { Scale = 2 }, overwrite: true);
        Assert.Equal(2 * NX, PngPixels.Load(path).Width);
        Assert.Single(Directory.GetFiles(_dir));
    }
}
