using RegPS.Engine.Images;

namespace RegPS.Engine.Fields;

/// <summary>
/// The discretisation a working displacement field lives on: shape (NZ = 1 for 2D), grid-to-world matrix and its
/// inverse's linear part (world mm -> voxel units). Working fields always hold 3 interleaved float32 components
/// per voxel (world x, y, z mm; z stays 0 in 2D), x fastest, so one set of kernels serves 2D and 3D.
/// </summary>
internal sealed class FieldGrid
{
    public FieldGrid(Grid grid)
    {
        Grid = grid;
        NX = grid.NX; NY = grid.NY; NZ = grid.NZ;
        TwoD = grid.Dimension == 2;
        W = new double[9];
        L = new double[9];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
            {
                W[r * 3 + c] = grid.WorldToGrid[r, c];
                L[r * 3 + c] = grid.GridToWorld[r, c];
            }
    }

    public Grid Grid { get; }
    public int NX { get; }
    public int NY { get; }
    public int NZ { get; }
    public bool TwoD { get; }
    public int Count => NX * NY * NZ;
    public int Rows => NY * NZ;

    /// <summary>World-to-grid linear part, row-major 3x3: a world vector d (mm) is W d voxels.</summary>
    public double[] W { get; }

    /// <summary>Grid-to-world linear part, row-major 3x3.</summary>
    public double[] L { get; }

    /// <summary>Length in voxels of the world vector (x, y, z) mm.</summary>
    public double VoxelNorm(double x, double y, double z)
    {
        var w = W;
        double a = w[0] * x + w[1] * y + w[2] * z, b = w[3] * x + w[4] * y + w[5] * z, c = w[6] * x + w[7] * y + w[8] * z;
        return Math.Sqrt(a * a + b * b + c * c);
    }
}
