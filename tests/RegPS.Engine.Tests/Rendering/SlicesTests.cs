using RegPS.Engine.Images;
using RegPS.Rendering;

namespace RegPS.Engine.Tests.Rendering;

public class SlicesTests
{
    // An oblique-ish grid: spacing 2, 3, 4 mm, a shear term and an offset, so every matrix column matters.
    private static Grid Grid3() => new(20, 16, 12, new Matrix4(new double[] { 2, 0.5, 0, -10, 0, 3, 0, 7, 0, 0, 4, 30, 0, 0, 0, 1 }), 3);

    [Theory]
    [InlineData(SliceAxis.Axial, 7)]
    [InlineData(SliceAxis.Coronal, 4)]
    [InlineData(SliceAxis.Sagittal, 15)]
    public void Plane_voxels_keep_their_world_positions_and_values(SliceAxis axis, int slice)
    {
        var g = Grid3();
        var v = new float[g.VoxelCount];
        for (int i = 0; i < v.Length; i++) v[i] = i;   // value = linear index, so every voxel is identifiable
        var img = new Image(g, v);
        var plane = Slices.Extract(img, axis, slice);
        var pg = plane.Grid;
        for (int r = 0; r < pg.NY; r++)
            for (int c = 0; c < pg.NX; c++)
            {
                var (i, j, k) = axis switch
                {
                    SliceAxis.Axial => (c, r, slice),
                    SliceAxis.Coronal => (c, slice, r),
                    _ => (slice, c, r),
                };
                Assert.Equal(g.Index(i, j, k), plane[c, r]);
                var expected = g.ToWorld(i, j, k);
                var actual = pg.ToWorld(c, r, 0);
                Assert.Equal(expected.X, actual.X, 1e-9);
                Assert.Equal(expected.Y, actual.Y, 1e-9);
                Assert.Equal(expected.Z, actual.Z, 1e-9);
            }
        Assert.Equal(1, pg.NZ);
        Assert.Equal(3, pg.Dimension);
    }

    [Fact]
    public void In_plane_components_follow_the_plane_axes()
    {
        var g = Grid3();
        int n = g.VoxelCount;
        var di = Enumerable.Repeat(1f, n).ToArray();
        var dj = Enumerable.Repeat(2f, n).ToArray();
        var dk = Enumerable.Repeat(3f, n).ToArray();
        var (a, u) = Slices.ExtractInPlane(g, di, dj, dk, SliceAxis.Axial);
        Assert.All(a, x => Assert.Equal(1f, x)); Assert.All(u, x => Assert.Equal(2f, x));
        Assert.Equal(20 * 16, a.Length);
        (a, u) = Slices.ExtractInPlane(g, di, dj, dk, SliceAxis.Coronal);
        Assert.All(a, x => Assert.Equal(1f, x)); Assert.All(u, x => Assert.Equal(3f, x));
        Assert.Equal(20 * 12, a.Length);
        (a, u) = Slices.ExtractInPlane(g, di, dj, dk, SliceAxis.Sagittal);
        Assert.All(a, x => Assert.Equal(2f, x)); Assert.All(u, x => Assert.Equal(3f, x));
        Assert.Equal(16 * 12, u.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => Slices.ExtractInPlane(g, di, dj, dk, SliceAxis.Coronal, 16));
        Assert.Throws<ArgumentException>(() => Slices.ExtractInPlane(g, di, dj, new float[3], SliceAxis.Coronal));
    }

    [Fact]
    public void Deformation_grid_of_a_plane_lines_up_with_the_overlay_of_the_same_slice()
    {
        // A marker at (i 3, j 4, k 7): the coronal overlay of slice j = 4 and the deformation grid drawn on the same
        // plane with the image as underlay (opacity 1, a lattice that misses the marker) put it in the same pixel.
        var g = Grid.Create3D(20, 16, 12);
        var v = new float[g.VoxelCount];
        v[g.Index(3, 4, 7)] = 1;
        var img = new Image(g, v);
        var overlay = PngPixels.FromBitmap(StereoOverlay.Render(img, img, new OverlayOptions { Axis = SliceAxis.Coronal, Slice = 4, Scale = 1 }));
        var plane = Slices.Extract(img, SliceAxis.Coronal, 4);
        var zero = new float[plane.Grid.VoxelCount];
        var grid = PngPixels.FromBitmap(DeformationGrid.Render(plane.Grid, zero, zero,
            new DeformationGridOptions { Scale = 1, Underlay = plane, UnderlayOpacity = 1, LineSpacing = 100 }));
        Assert.Equal((overlay.Width, overlay.Height), (grid.Width, grid.Height));
        Assert.Equal(((byte)255, (byte)255, (byte)0), overlay[3, 11 - 7]);
        Assert.Equal(((byte)255, (byte)255, (byte)255), grid[3, 11 - 7]);
    }
}
