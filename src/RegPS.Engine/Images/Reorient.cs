using RegPS.Engine.Resampling;

namespace RegPS.Engine.Images;

/// <summary>
/// Display helpers that change how voxels are stored, never where they are in the world.
/// </summary>
public static class Reorient
{
    /// <summary>
    /// For each voxel axis, the world axis it runs along most (0 = x/R, 1 = y/A, 2 = z/S) and the sign, chosen
    /// greedily as <see cref="OrientationCode"/> does.
    /// </summary>
    public static (int World, int Sign)[] AxisMap(Grid g)
    {
        var code = OrientationCode.FromMatrix(g.GridToWorld, 3);
        var map = new (int, int)[3];
        for (int i = 0; i < 3; i++)
            map[i] = code[i] switch
            {
                'R' => (0, 1), 'L' => (0, -1), 'A' => (1, 1), 'P' => (1, -1), 'S' => (2, 1), _ => (2, -1),
            };
        return map;
    }

    /// <summary>
    /// The image with its voxels permuted and flipped so that voxel axes i, j, k run closest to R, A, S (nibabel's
    /// as_closest_canonical). The grid-to-world matrix changes with them, so every voxel keeps its world position.
    /// 2D images and images already in RAS order are returned as they are.
    /// </summary>
    public static Image ToClosestCanonical(Image image)
    {
        var g = image.Grid;
        if (g.Dimension == 2) return image;
        if (CanonicalGrid(g, out var oldAxis, out var flip) is not { } newGrid) return image;
        int[] n = { newGrid.NX, newGrid.NY, newGrid.NZ };
        int[] oldStride = { 1, g.NX, g.NX * g.NY };
        int count = g.VoxelCount;
        // For each new voxel, the offset of the old voxel: a separable sum of per-axis offsets.
        var off = new int[3][];
        for (int w = 0; w < 3; w++)
        {
            off[w] = new int[n[w]];
            for (int u = 0; u < n[w]; u++) off[w][u] = (flip[w] ? n[w] - 1 - u : u) * oldStride[oldAxis[w]];
        }
        float[] Permute(ReadOnlySpan<float> src, int planes)
        {
            var dst = new float[(long)count * planes];
            for (int v = 0; v < planes; v++)
            {
                int baseOld = v * count, t = v * count;
                for (int z = 0; z < n[2]; z++)
                    for (int y = 0; y < n[1]; y++)
                    {
                        int oz = baseOld + off[2][z] + off[1][y];
                        for (int x = 0; x < n[0]; x++) dst[t++] = src[oz + off[0][x]];
                    }
            }
            return dst;
        }
        var voxels = Permute(image.Voxels, image.Volumes);
        var colour = image.IsColour ? Permute(image.ColourPlanes, 3) : null;
        return new Image(newGrid, voxels, image.Volumes, colour, image.SourcePath, image.DataType, image.SourceHeader, image.VoxelsAreSource);
    }

    /// <summary>
    /// The image resampled (linearly) onto a grid with the same orientation and extent but cubic voxels of the smallest
    /// spacing, so that pictures of anisotropic volumes are not squashed. Isotropic images are returned as they are.
    /// </summary>
    public static Image ToIsotropic(Image image, int maxDegree = 0)
    {
        var g = image.Grid;
        var s = g.Spacing;
        double min = s.Min(), max = s.Max();
        if (max / min < 1.01) return image;
        int[] n = { g.NX, g.NY, g.NZ };
        var scale = new double[3];
        var newN = new int[3];
        for (int a = 0; a < 3; a++)
        {
            double sp = a < s.Length ? s[a] : 1;
            scale[a] = a < g.Dimension ? min / sp : 1;
            newN[a] = a < g.Dimension ? Math.Max(1, (int)Math.Round((n[a] - 1) * sp / min) + 1) : 1;
        }
        var m = g.GridToWorld * Matrix4.Scaling(scale[0], scale[1], scale[2]);
        var iso = new Grid(newN[0], newN[1], newN[2], m, g.Dimension);
        return Resampler.Resample(image, iso, null, Interpolation.Linear, Boundary.Constant, maxDegree);
    }

    /// <summary>
    /// The grid of <see cref="ToClosestCanonical"/>: voxel axes reordered and flipped to run closest to R, A, S, the same
    /// world points. oldAxis[w] is the old voxel axis that runs along world axis w, flip[w] whether it runs backwards.
    /// Null when the grid is canonical already.
    /// </summary>
    private static Grid? CanonicalGrid(Grid g, out int[] oldAxis, out bool[] flip)
    {
        var map = AxisMap(g);
        oldAxis = new int[3];
        flip = new bool[3];
        if (map[0] == (0, 1) && map[1] == (1, 1) && map[2] == (2, 1)) return null;
        for (int i = 0; i < 3; i++) { oldAxis[map[i].World] = i; flip[map[i].World] = map[i].Sign < 0; }
        int[] oldN = { g.NX, g.NY, g.NZ };
        int[] n = { oldN[oldAxis[0]], oldN[oldAxis[1]], oldN[oldAxis[2]] };
        // New index u (per world axis) -> old index: old[oldAxis[w]] = flip ? n[w]-1-u[w] : u[w]. As a matrix P (old = P new).
        var p = new double[16];
        p[15] = 1;
        for (int w = 0; w < 3; w++)
        {
            int o = oldAxis[w];
            p[o * 4 + w] = flip[w] ? -1 : 1;
            p[o * 4 + 3] = flip[w] ? n[w] - 1 : 0;
        }
        return new Grid(n[0], n[1], n[2], g.GridToWorld * new Matrix4(p), 3);
    }

    /// <summary>
    /// The grid pictures of a 3D image are drawn on: the grid <see cref="ToClosestCanonical"/> then <see cref="ToIsotropic"/>
    /// give (voxel axes closest to R, A, S; cubic voxels of the smallest spacing; same extent), computed without the
    /// voxels. A 2D grid is returned as it is.
    /// </summary>
    public static Grid DisplayGrid(Grid g)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (g.Dimension == 2) return g;
        var canonical = CanonicalGrid(g, out _, out _) ?? g;
        var s = canonical.Spacing;
        double min = s.Min(), max = s.Max();
        if (max / min < 1.01) return canonical;
        int[] size = { canonical.NX, canonical.NY, canonical.NZ };
        var scale = new double[3];
        var newN = new int[3];
        for (int a = 0; a < 3; a++)
        {
            scale[a] = min / s[a];
            newN[a] = Math.Max(1, (int)Math.Round((size[a] - 1) * s[a] / min) + 1);
        }
        return new Grid(newN[0], newN[1], newN[2], canonical.GridToWorld * Matrix4.Scaling(scale[0], scale[1], scale[2]), 3);
    }
}
